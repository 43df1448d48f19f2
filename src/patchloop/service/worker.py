"""A worker process: lease a job, run it in a forked job process, stream its events, finish it.

The worker itself never runs a repair. It forks a job process per job (cheap: the library is
already imported) and stays single-threaded, so that the fork is safe; it reads the job's
events from a pipe, renews the lease with heartbeats, and watches for a cancel. A cancel sends
the job process ``SIGINT`` (the library stops its sandboxed commands and finishes the record),
then kills the whole tree after a grace period. The job process dies with the worker
(``PR_SET_PDEATHSIG``), so a worker killed with ``-9`` leaves its lease to expire and another
worker retries the job. The worker is a child subreaper: what a job leaves running after it
ends (daemons its tests started) is re-parented to the worker and killed.

Run as ``python -m patchloop.service.worker --settings FILE --name NAME``.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import sys
import time
from contextlib import suppress
from pathlib import Path
from types import FrameType

from pydantic import BaseModel, ConfigDict

from patchloop.domain import Event
from patchloop.service._procs import become_subreaper, children_of, die_with_parent, kill_tree
from patchloop.service.jobs import JobResult, JobStatus, Lease
from patchloop.service.queue import JobQueue, LeasePolicy, NewEvent
from patchloop.service.settings import ServiceSettings

__all__ = ["WireMessage", "Worker", "main"]

#: Idle wait between looks at the queue.
POLL_S = 0.05
#: Rounds of killing what a job left behind (each round reaps one generation).
REAP_PASSES = 64
#: Slack past a job's own time budget before the worker kills it.
BACKSTOP_S = 120.0


class WireMessage(BaseModel):
    """One line from a job process to its worker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: Event | None = None
    result: JobResult | None = None


def _policy(settings: ServiceSettings) -> LeasePolicy:
    return LeasePolicy(
        lease_s=settings.lease_s,
        max_running=settings.max_running,
        team_limits={k: v.concurrency for k, v in settings.teams.items()},
        team_default=settings.team_concurrency,
        max_leases=settings.max_leases,
    )


def _job_process(fd: int, lease: Lease, settings: ServiceSettings) -> None:
    """Body of the forked job process; never returns."""
    code = 0
    try:
        die_with_parent()
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from patchloop.service.runner import run_job

        with os.fdopen(fd, "w", encoding="utf-8", buffering=1) as out:

            def emit(event: Event) -> None:
                out.write(WireMessage(event=event).model_dump_json() + "\n")

            try:
                result = run_job(lease.job.id, lease.job.spec, settings, emit, team=lease.job.team)
            except Exception as exc:  # a bug, not the code under repair: say which
                result = JobResult(
                    verdict="error",
                    error=f"internal error: {type(exc).__name__}: {exc}",
                    error_kind="InternalError",
                    infra=True,
                )
            out.write(WireMessage(result=result).model_dump_json() + "\n")
    except BaseException:  # the worker reports a job process that ends without a result
        code = 1
    finally:
        from patchloop.verify.pytest_runner import release_plugin_dir

        release_plugin_dir()  # atexit does not run past os._exit
        os._exit(code)


class _Running:
    """The worker's view of one job process."""

    def __init__(self, lease: Lease, pid: int, fd: int) -> None:
        self.lease = lease
        self.pid = pid
        self.fd = fd
        self.buffer = b""
        self.result: JobResult | None = None
        self.cancelling_since: float | None = None
        self.killed = ""
        self.exit_status: int | None = None
        self.forked = 0.0
        self.process_s = 0.0


def _reap_orphans() -> None:
    """Kill what a job left behind: as a subreaper, the worker inherits the job's orphans
    (processes that left its tree), and it starts no other processes itself."""
    # A killed process's own children are re-parented here as it dies: look again until none.
    for _ in range(REAP_PASSES):
        orphans = children_of(os.getpid())
        if not orphans:
            return
        for pid in orphans:
            kill_tree(pid)
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)


class Worker:
    """Leases jobs from ``queue`` one at a time until told to stop."""

    def __init__(self, settings: ServiceSettings, queue: JobQueue, name: str) -> None:
        self.settings = settings
        self.queue = queue
        self.name = name
        self.policy = _policy(settings)
        self.stopping = False

    def stop(self, *_: object) -> None:
        """Finish nothing new; hand a running job back to the queue."""
        self.stopping = True

    def run_forever(self) -> None:
        """The worker's main loop."""
        while not self.stopping:
            if not self.run_once():
                time.sleep(POLL_S)

    def run_once(self) -> bool:
        """Lease and run one job; ``False`` when there was none to run."""
        lease = self.queue.lease(self.name, self.policy)
        if lease is None:
            return False
        read_fd, write_fd = os.pipe()
        forked = time.monotonic()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the job process
            os.close(read_fd)
            _job_process(write_fd, lease, self.settings)
        os.close(write_fd)
        job = _Running(lease, pid, read_fd)
        job.forked = forked
        self._supervise(job)
        return True

    def _supervise(self, job: _Running) -> None:
        settings = self.settings
        deadline = time.monotonic() + job.lease.job.spec.timeout + BACKSTOP_S
        next_beat = time.monotonic() + settings.heartbeat_s
        selector = selectors.DefaultSelector()
        selector.register(job.fd, selectors.EVENT_READ)
        try:
            while True:
                if selector.select(timeout=min(settings.heartbeat_s, 0.5)):
                    chunk = os.read(job.fd, 65536)
                    if not chunk:
                        break
                    self._consume(job, chunk)
                now = time.monotonic()
                if now >= next_beat:
                    next_beat = now + settings.heartbeat_s
                    beat = self.queue.heartbeat(job.lease, settings.lease_s)
                    if not beat.held:
                        job.killed = "lease lost"
                        kill_tree(job.pid)
                    elif beat.cancel_requested and job.cancelling_since is None:
                        job.cancelling_since = now
                        os.kill(job.pid, signal.SIGINT)
                if self.stopping and not job.killed:
                    job.killed = "worker stopping"
                    kill_tree(job.pid)
                if (
                    job.cancelling_since is not None
                    and not job.killed
                    and now - job.cancelling_since > settings.cancel_grace_s
                ):
                    job.killed = "cancel"
                    kill_tree(job.pid)
                if now > deadline and not job.killed:
                    job.killed = "deadline"
                    kill_tree(job.pid)
        finally:
            selector.close()
            os.close(job.fd)
            _, status = os.waitpid(job.pid, 0)
            job.exit_status = status
            job.process_s = round(time.monotonic() - job.forked, 4)
            _reap_orphans()  # before the job ends for its watchers: nothing of it runs on
        self._conclude(job)

    def _consume(self, job: _Running, chunk: bytes) -> None:
        job.buffer += chunk
        *lines, job.buffer = job.buffer.split(b"\n")
        events = []
        for line in lines:
            if not line.strip():
                continue
            message = WireMessage.model_validate_json(line)
            if message.result is not None:
                job.result = message.result
            elif message.event is not None:
                events.append(
                    NewEvent(
                        kind=message.event.kind,
                        message=message.event.message,
                        body=message.event.model_dump_json(),
                        at=time.time(),
                    )
                )
        if events and not self.queue.append(job.lease, events):
            job.killed = job.killed or "lease lost"
            kill_tree(job.pid)

    def _conclude(self, job: _Running) -> None:
        lease = job.lease
        if job.killed == "lease lost":
            return  # another worker owns the job now; nothing of ours may be written
        if job.killed == "worker stopping":
            self.queue.release(lease, f"worker {self.name} stopped; queued again")
            return
        status: JobStatus
        result = job.result
        if job.cancelling_since is not None:
            status = "cancelled"
            result = result or JobResult(verdict="error", error="cancelled")
            result = result.model_copy(
                update={"verdict": "cancelled", "error": "cancelled by request"}
            )
        elif result is None:
            if job.killed == "deadline":
                why = "the job ran past its time budget and was killed"
            else:
                why = f"the job process ended without a result ({_exit_text(job.exit_status)})"
            status, result = (
                "failed",
                JobResult(verdict="error", error=why, error_kind="JobProcessDied", infra=True),
            )
        else:
            status = "failed" if result.verdict == "error" else "succeeded"
        self.queue.finish(lease, status, result.model_copy(update={"process_s": job.process_s}))


def _exit_text(status: int | None) -> str:
    if status is None:
        return "unknown status"
    code = os.waitstatus_to_exitcode(status)
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


def main(argv: list[str] | None = None) -> None:
    """Entry point of a worker process."""
    parser = argparse.ArgumentParser(prog="patchloop-worker")
    parser.add_argument("--settings", type=Path, required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    die_with_parent(signal.SIGTERM)
    become_subreaper()
    settings = ServiceSettings.model_validate(json.loads(args.settings.read_text("utf-8")))
    # Imported here, once, so that every forked job process starts with the library loaded.
    import patchloop.loop
    import patchloop.service.runner  # noqa: F401
    from patchloop.service.backend import open_store

    worker = Worker(settings, open_store(settings).queue, args.name)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.run_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
