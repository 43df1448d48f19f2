"""A local process pool: every task in a fresh worker process, with a hard deadline per task.

Tasks reuse module names (``node``, ``add``), and a repair may leave state behind in its
process, so no process ever runs two tasks. Workers are forked from a ``forkserver`` that has
already imported the loop, which keeps the start-up cost of one task to a few milliseconds.
A worker past its deadline gets ``SIGTERM`` (its sandbox then kills the test processes it
started) and ``SIGKILL`` after a grace period. An interrupt of the parent stops every worker
the same way and propagates. As with any ``multiprocessing`` code, a script that starts the pool
must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from patchloop.errors import PatchloopError
from patchloop.eval.results import TaskResult
from patchloop.eval.suite import SuiteTask
from patchloop.eval.worker import EvalSettings, evaluate_task, failed_result
from patchloop.sandbox import SANDBOXES

__all__ = ["crash_detail", "hard_deadline", "run_pool"]

#: Seconds a stopped worker gets to clean up before it is killed.
GRACE_S = 10.0
#: Imported once by the forkserver, so that workers start warm. ``__main__`` first: a main
#: script imported there is not run again in every worker (missing modules are skipped).
PRELOAD = ["__main__", "patchloop.eval.worker", "patchloop.localize", "patchloop.fixers"]


def hard_deadline(task: SuiteTask, settings: EvalSettings) -> float:
    """Seconds after which a task's worker is stopped: the loop's own budget plus room to
    judge the diff (the loop normally stops itself at ``config.timeout``)."""
    return settings.config.timeout * 1.05 + 60.0 + settings.test_timeout * len(task.nodeids)


def _preload(settings: EvalSettings) -> list[str]:
    """Modules for the forkserver to import: the loop's, and the configured sandbox's."""
    modules = list(PRELOAD)
    kind = settings.config.sandbox.kind
    if kind != "auto":
        with contextlib.suppress(PatchloopError):
            modules.append(SANDBOXES.resolve(kind).__module__)
    return modules


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    # A second signal must not interrupt the clean-up the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _child(conn: Connection, task: SuiteTask, settings: EvalSettings) -> None:
    """Worker entry point: evaluate one task and send its result as JSON."""
    signal.signal(signal.SIGINT, _interrupt_once)
    signal.signal(signal.SIGTERM, _interrupt_once)
    try:
        try:
            result = evaluate_task(task, settings)
        except KeyboardInterrupt:
            return
        except BaseException as exc:  # report, whatever it was
            result = failed_result(task, "crash", f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(OSError):  # the parent is gone
            conn.send_bytes(result.model_dump_json().encode("utf-8"))
    finally:
        conn.close()
        # A worker ends with os._exit (multiprocessing), which skips the exit handlers: run
        # them now, so that its sandboxes' scratch directories and its test plugin go too.
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()


@dataclass
class _Running:
    task: SuiteTask
    proc: BaseProcess
    conn: Connection
    started: float
    deadline: float
    stopped_at: float | None = None
    models: tuple[str, ...] = ()

    def wake_at(self) -> float:
        return self.deadline if self.stopped_at is None else self.stopped_at + GRACE_S

    def stop(self) -> None:
        if self.stopped_at is None and self.proc.pid is not None and self.proc.is_alive():
            self.stopped_at = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)


def _finish(run: _Running, payload: bytes | None) -> TaskResult:
    run.proc.join(timeout=GRACE_S)
    if run.proc.is_alive():
        run.proc.kill()
        run.proc.join()
    run.conn.close()
    elapsed = round(time.monotonic() - run.started, 4)
    if payload:
        return TaskResult.model_validate_json(payload)
    if run.stopped_at is not None:
        return failed_result(
            run.task,
            "timeout",
            f"no result within {run.deadline - run.started:.0f}s; the worker was stopped",
            wall_s=elapsed,
        )
    return failed_result(
        run.task, "crash", crash_detail(run.proc.exitcode, run.models), wall_s=elapsed
    )


def crash_detail(exitcode: int | None, models: Sequence[str]) -> str:
    """Why a worker ended without a result: its signal or status, the backends that ran in
    it, and what to try (a native crash is most often the embedded llama.cpp engine's)."""
    from patchloop.models._crash import crash_hint, describe_signal

    embedded = [m for m in models if m.startswith("llamacpp:")]
    ran = f"; models: {', '.join(models)}" if models else "; no model (model-free tier only)"
    if exitcode is None or exitcode >= 0:
        return f"the worker process exited with status {exitcode} and no result{ran}"
    died = f"the worker process died of {describe_signal(-exitcode)} with no result{ran}"
    if embedded:
        hint = crash_hint(-exitcode, "generate")
        return f"{died}; the embedded llama.cpp engine runs in the worker: {hint}"
    return died


def _collect(run: _Running, now: float) -> TaskResult | None:
    """The task's result if its worker is done (or was given up on), else ``None``."""
    if run.conn.poll():
        try:
            payload: bytes | None = run.conn.recv_bytes()
        except (EOFError, OSError):
            payload = None
        return _finish(run, payload)
    if not run.proc.is_alive():
        return _finish(run, None)
    if run.stopped_at is None and now >= run.deadline:
        run.stop()
    elif run.stopped_at is not None and now >= run.stopped_at + GRACE_S:
        run.proc.kill()
        return _finish(run, None)
    return None


def run_pool(
    tasks: Sequence[SuiteTask],
    settings: EvalSettings,
    *,
    workers: int,
    on_result: Callable[[TaskResult], None],
    on_start: Callable[[SuiteTask], None] | None = None,
) -> None:
    """Evaluate ``tasks`` with at most ``workers`` worker processes; report each result as
    soon as its task ends."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_preload(settings))
    queue = deque(tasks)
    running: list[_Running] = []
    try:
        while queue or running:
            while queue and len(running) < max(1, workers):
                task = queue.popleft()
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_child, args=(writer, task, settings), name=f"eval:{task.id}"
                )
                started = time.monotonic()
                proc.start()
                writer.close()
                running.append(
                    _Running(
                        task,
                        proc,
                        reader,
                        started,
                        started + hard_deadline(task, settings),
                        models=settings.config.models,
                    )
                )
                if on_start is not None:
                    on_start(task)
            timeout = max(0.0, min(r.wake_at() for r in running) - time.monotonic())
            wait([r.conn for r in running] + [r.proc.sentinel for r in running], timeout)
            now = time.monotonic()
            for run in list(running):
                result = _collect(run, now)
                if result is not None:
                    running.remove(run)
                    on_result(result)
    finally:
        _shutdown(running)


def _shutdown(running: list[_Running]) -> None:
    """Stop every worker still running: SIGTERM, a grace period, then SIGKILL."""
    for run in running:
        run.stop()
    end = time.monotonic() + GRACE_S
    for run in running:
        run.proc.join(timeout=max(0.0, end - time.monotonic()))
        if run.proc.is_alive():
            run.proc.kill()
            run.proc.join()
        run.conn.close()
