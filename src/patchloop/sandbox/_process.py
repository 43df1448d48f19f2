"""Run one command in its own process group and supervise it: wall clock, output caps, cleanup.

One thread multiplexes stdout, stderr and a pidfd of the child with a selector, so a flood of
output, a hang and the child's exit are all noticed without extra threads. The child's exit is
seen through the pidfd *before* it is reaped; the process group is killed while the zombie still
holds its pid, so the group id cannot have been reused by an unrelated process.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO, Literal

from patchloop.domain import Limits, ProcessResult
from patchloop.sandbox._capture import HeadTail

__all__ = ["memory_exhausted", "signal_cause", "supervise"]

KilledBy = Literal["wall", "cpu", "memory", "output", "file_size", "signal"]

#: After the child exits, how long to keep reading output that escaped processes still write.
DRAIN_S = 0.5
#: After a kill, how long to wait for the child to die before giving up on it.
KILL_GRACE_S = 5.0
#: Poll interval where pidfds are not available.
POLL_S = 0.02
_READ = 65536


def _kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _open_pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    return fd


def signal_cause(returncode: int, limits: Limits) -> KilledBy | None:
    # A shell reports a child killed by signal N as exit status 128 + N.
    if returncode == 128 + signal.SIGXCPU and limits.cpu_s is not None:
        return "cpu"
    if returncode == 128 + signal.SIGXFSZ and limits.file_size_bytes is not None:
        return "file_size"
    if returncode >= 0:
        return None
    sig = -returncode
    if sig == signal.SIGXCPU:
        return "cpu"
    if sig == signal.SIGXFSZ:
        return "file_size"
    if sig == signal.SIGKILL and limits.cpu_s is not None:
        # The hard CPU limit kills with SIGKILL a process that ignored SIGXCPU.
        return "cpu"
    return "signal"


def memory_exhausted(stderr: str, limits: Limits) -> bool:
    """Whether a failed run ended on a ``MemoryError`` under an address-space limit.

    Python reports allocations refused by ``RLIMIT_AS`` as ``MemoryError``; the last lines of
    stderr are read only to label the cause, never to grade a test.
    """
    if limits.memory_bytes is None:
        return False
    tail = stderr.rstrip().splitlines()[-3:]
    return any(line.startswith("MemoryError") for line in tail)


def _start(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    preexec: Callable[[], None] | None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes] | str:
    if not argv:
        return "empty command"
    if not cwd.is_dir():
        return f"working directory does not exist: {cwd}"
    try:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            # Only precomputed setrlimit calls run there (see make_preexec): thread-safe.
            preexec_fn=preexec,  # noqa: PLW1509
            close_fds=True,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError:
        return f"command not found: {argv[0]}"
    except PermissionError:
        return f"command is not executable: {argv[0]}"
    except OSError as exc:
        return f"cannot run {argv[0]}: {exc.strerror or exc}"
    except subprocess.SubprocessError as exc:
        return f"cannot set up {argv[0]}: {exc}"


class _Supervisor:
    """State of one supervised child (see :func:`supervise`)."""

    def __init__(self, proc: subprocess.Popen[bytes], limits: Limits) -> None:
        self.proc = proc
        self.limits = limits
        self.out = HeadTail(limits.output_bytes)
        self.err = HeadTail(limits.output_bytes)
        self.killed_by: KilledBy | None = None
        self.killed_at: float | None = None
        self.exited = False
        self.sel = selectors.DefaultSelector()
        assert proc.stdout is not None
        assert proc.stderr is not None
        self.streams: dict[int, tuple[IO[bytes], HeadTail]] = {
            proc.stdout.fileno(): (proc.stdout, self.out),
            proc.stderr.fileno(): (proc.stderr, self.err),
        }
        for fd in self.streams:
            self.sel.register(fd, selectors.EVENT_READ)
        self.pidfd = _open_pidfd(proc.pid)
        if self.pidfd is not None:
            self.sel.register(self.pidfd, selectors.EVENT_READ)

    def kill(self, cause: KilledBy | None) -> None:
        if self.killed_by is None and cause is not None:
            self.killed_by = cause
        if self.killed_at is None:
            self.killed_at = time.monotonic()
        _kill_group(self.proc.pid)

    def on_exit(self) -> None:
        self.exited = True
        # Leftover members of the group (background jobs, grandchildren) die with the leader.
        _kill_group(self.proc.pid)
        if self.pidfd is not None:
            self.sel.unregister(self.pidfd)

    def read(self, fd: int) -> None:
        _, buf = self.streams[fd]
        chunk = os.read(fd, _READ)
        if not chunk:
            self.sel.unregister(fd)
            del self.streams[fd]
            return
        buf.feed(chunk)
        if buf.over and self.killed_at is None and not self.exited:
            self.kill("output")

    def loop(self, start: float) -> None:
        deadline = start + self.limits.wall_s
        drain_until = 0.0
        while True:
            now = time.monotonic()
            if not self.exited and self.pidfd is None and self.proc.poll() is not None:
                self.on_exit()  # without a pidfd the child is already reaped: small race
            if self.exited:
                if not self.streams:
                    return
                drain_until = drain_until or now + DRAIN_S
                timeout = drain_until - now
                if timeout <= 0:
                    return  # a process that escaped the group still holds the pipes
            else:
                if now >= deadline and self.killed_at is None:
                    self.kill("wall")
                if self.killed_at is None:
                    timeout = deadline - now
                else:
                    timeout = self.killed_at + KILL_GRACE_S - now
                    if timeout <= 0:
                        return  # not dead after SIGKILL (uninterruptible sleep): give up on it
                if self.pidfd is None:
                    timeout = min(timeout, POLL_S)
            for key, _ in self.sel.select(timeout):
                if key.fd == self.pidfd:
                    self.on_exit()
                elif key.fd in self.streams:
                    self.read(key.fd)

    def close(self) -> None:
        if self.proc.returncode is None:
            _kill_group(self.proc.pid)
            # After a kill the loop already waited its grace period; do not wait it again.
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=KILL_GRACE_S if self.killed_at is None else 0.1)
        self.sel.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
        for stream, _ in self.streams.values():
            stream.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def supervise(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    limits: Limits,
    preexec: Callable[[], None] | None = None,
    pass_fds: Sequence[int] = (),
) -> ProcessResult:
    """Run ``argv`` in a new session and return what it did; never raises for the command's sake.

    The whole process group is SIGKILLed when the wall clock runs out (``killed_by="wall"``),
    when a stream passes ``limits.output_bytes`` (``"output"``), and in any case once the main
    process has exited, so background children do not outlive the run. A command that cannot
    start gives ``exit_code=None`` and ``error``. On an exception in the caller's thread
    (``KeyboardInterrupt``) the group is killed before the exception propagates.
    """
    start = time.monotonic()
    started = _start(argv, cwd, env, preexec, pass_fds)
    if isinstance(started, str):
        return ProcessResult(argv=tuple(argv), exit_code=None, error=started)
    sup = _Supervisor(started, limits)
    try:
        sup.loop(start)
        sup.proc.wait(timeout=None if sup.exited else 0.1)
    except subprocess.TimeoutExpired:
        pass  # an unkillable child (uninterruptible sleep); reported with no exit code
    finally:
        sup.close()
    returncode = sup.proc.returncode
    killed_by = sup.killed_by
    if killed_by is None and returncode is not None:
        killed_by = signal_cause(returncode, limits)
    if killed_by is None and returncode and memory_exhausted(sup.err.text(), limits):
        killed_by = "memory"
    return ProcessResult(
        argv=tuple(argv),
        exit_code=returncode,
        stdout=sup.out.text(),
        stderr=sup.err.text(),
        duration_s=round(time.monotonic() - start, 6),
        killed_by=killed_by,
        output_truncated=bool(sup.out.dropped or sup.err.dropped),
    )
