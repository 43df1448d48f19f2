"""The harness side of a warm interpreter: start the fork server, send runs, supervise them.

A run costs a ``fork`` of an interpreter that already imported pytest and its plugins instead of
a fresh interpreter start and those imports (about 0.15 s against 0.8 s for one test here). The
server runs inside the sandbox; each forked child gets its own working copy, rlimits, output
pipes and clean environment (see ``_forkserver``). Here the output is read under the same caps as
:func:`~patchloop.sandbox._process.supervise`, and a wall clock backs up the server's own: a
server that does not answer in time is killed with everything it runs.
"""

from __future__ import annotations

import array
import itertools
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from patchloop.domain import Limits, ProcessResult
from patchloop.errors import InfrastructureError
from patchloop.protocols import WarmRunner
from patchloop.sandbox._capture import HeadTail
from patchloop.sandbox._fs import remove_tree
from patchloop.sandbox._limits import rlimit_table
from patchloop.sandbox._process import memory_exhausted, signal_cause

__all__ = [
    "SERVER_MODULE",
    "Owned",
    "WarmPython",
    "WarmRunner",
    "WarmServers",
    "server_argv",
    "server_script",
]

log = logging.getLogger("patchloop.sandbox")

#: File name of the fork server script where a sandbox puts it.
SERVER_MODULE = "_patchloop_forkserver"
#: How long a server may take to import its preloads before it counts as broken.
START_TIMEOUT_S = 60.0
#: Slack past the run's wall clock before the harness stops waiting for the server.
BACKSTOP_S = 5.0
#: After the answer, how long to keep reading output that is still in the pipes.
DRAIN_S = 0.5
_READ = 65536
_ids = itertools.count(1)


class Owned:
    """Warm servers and scratch directories a sandbox owns, released together.

    A sandbox hands :meth:`release` to ``weakref.finalize``, so everything goes when the sandbox
    is closed, garbage-collected, or the interpreter exits; nothing here refers back to it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.servers: list[WarmPython] = []
        self.paths: list[Path] = []

    def add_server(self, server: WarmPython) -> None:
        """Own ``server``."""
        with self._lock:
            self.servers.append(server)

    def add_path(self, path: Path) -> None:
        """Own the directory ``path``."""
        with self._lock:
            self.paths.append(path)

    def release(self) -> None:
        """Stop every server and remove every directory (idempotent)."""
        with self._lock:
            servers, self.servers = self.servers, []
            paths, self.paths = self.paths, []
        for server in servers:
            server.close()
        for path in paths:
            remove_tree(path)


def server_script(directory: Path) -> Path:
    """Copy the fork server script into ``directory`` (readable by all) and return its path."""
    target = directory / f"{SERVER_MODULE}.py"
    shutil.copyfile(Path(__file__).with_name("_forkserver.py"), target)
    target.chmod(0o644)
    return target


def server_argv(python: str, script: Path, fd: int, preload: Sequence[str]) -> list[str]:
    """The fork server's command line: ``python SCRIPT --control FD --preload JSON``."""
    return [python, str(script), "--control", str(fd), "--preload", json.dumps(list(preload))]


def _send(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode("utf-8")
    ancillary = []
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
    sock.sendmsg([data], ancillary)


def _receive(sock: socket.socket) -> dict[str, Any] | None:
    data = sock.recv(1 << 20)
    if not data:
        return None
    message = json.loads(data.decode("utf-8"))
    return message if isinstance(message, dict) else None


class WarmPython:
    """One fork server process and its control socket; one run at a time.

    ``popen`` starts the server given the server's end of the control socket (a descriptor to
    pass on) and returns the process.
    """

    def __init__(self, popen: Callable[[int], subprocess.Popen[bytes]], *, python: str) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.python = python
        self._lock = threading.Lock()
        self.sock = parent
        self.dead: str | None = None
        self.failed_preloads: tuple[str, ...] = ()
        try:
            self.proc = popen(child.fileno())
        finally:
            child.close()
        self._handshake()

    def _handshake(self) -> None:
        ready, _, _ = _select([self.sock], START_TIMEOUT_S)
        hello = None
        if ready:
            with suppress(OSError, ValueError):
                hello = _receive(self.sock)
        if not hello or not hello.get("ready"):
            self.close()
            self.dead = "the warm interpreter did not start"
            return
        self.failed_preloads = tuple(str(f) for f in hello.get("failed", []))

    @property
    def alive(self) -> bool:
        """Whether the server can take runs."""
        return self.dead is None and self.proc.poll() is None

    def close(self) -> None:
        """Stop the server and everything it runs."""
        self.dead = self.dead or "closed"
        with suppress(OSError):
            self.sock.close()
        if self.proc.poll() is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        limits: Limits,
        pass_fds: Sequence[int] = (),
        mirror: tuple[str, str] | None = None,
        wipe: Sequence[str] = (),
        keep: Sequence[str] = (),
    ) -> ProcessResult:
        """Fork a child that runs ``python ARGS`` in ``cwd`` and supervise it."""
        argv = (self.python, *args)
        with self._lock:
            if not self.alive:
                return ProcessResult(argv=argv, exit_code=None, error=self.dead or "server gone")
            request = {
                "id": next(_ids),
                "args": list(args),
                "cwd": str(cwd),
                "env": dict(env),
                "wall_s": limits.wall_s,
                "rlimits": [list(t) for t in rlimit_table(limits)],
                "fds": [1, 2, *pass_fds],
                "mirror": list(mirror) if mirror else None,
                "wipe": list(wipe),
                "keep": list(keep),
            }
            return _Run(self, argv, limits).go(request, pass_fds)


class _Run:
    """Supervision of one run on a server (the harness side)."""

    def __init__(self, server: WarmPython, argv: tuple[str, ...], limits: Limits) -> None:
        self.server = server
        self.argv = argv
        self.limits = limits
        self.out = HeadTail(limits.output_bytes)
        self.err = HeadTail(limits.output_bytes)
        self.killed_by: str | None = None
        self.reply: dict[str, Any] | None = None

    def go(self, request: dict[str, Any], pass_fds: Sequence[int]) -> ProcessResult:
        start = time.monotonic()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        streams: dict[int, HeadTail] = {out_r: self.out, err_r: self.err}
        try:
            try:
                _send(self.server.sock, request, [out_w, err_w, *pass_fds])
            except OSError as exc:
                self.server.close()
                self.server.dead = f"the warm interpreter is gone: {exc.strerror or exc}"
                return ProcessResult(argv=self.argv, exit_code=None, error=self.server.dead)
            finally:
                os.close(out_w)
                os.close(err_w)
            self._loop(start, streams)
        except BaseException:
            # Interrupted (Ctrl-C): the server's state is unknown; take it down with the run.
            self.server.close()
            raise
        finally:
            for fd in streams:
                os.close(fd)
        return self._result(start)

    def _loop(self, start: float, streams: dict[int, HeadTail]) -> None:
        sock = self.server.sock
        open_fds = set(streams)
        backstop = start + self.limits.wall_s + BACKSTOP_S
        drain_until: float | None = None
        while open_fds or self.reply is None:
            now = time.monotonic()
            if self.reply is not None:
                drain_until = drain_until or now + DRAIN_S
                if now >= drain_until:
                    return  # something outside the server's reach still holds a pipe
                timeout = drain_until - now
            else:
                if now >= backstop:
                    self.killed_by = self.killed_by or "wall"
                    self.server.close()
                    self.server.dead = "the warm interpreter did not answer in time"
                    return
                timeout = backstop - now
            waits = [*open_fds, *([sock] if self.reply is None else [])]
            ready, _, _ = _select(waits, timeout)
            for item in ready:
                if item is sock:
                    self._on_reply()
                    if self.reply is None and not self.server.alive:
                        return
                else:
                    assert isinstance(item, int)
                    self._on_output(item, streams[item], open_fds)

    def _on_reply(self) -> None:
        try:
            reply = _receive(self.server.sock)
        except (OSError, ValueError):
            reply = None
        if reply is None:
            self.server.close()
            self.server.dead = "the warm interpreter died during a run"
            return
        self.reply = reply

    def _on_output(self, fd: int, buf: HeadTail, open_fds: set[int]) -> None:
        chunk = os.read(fd, _READ)
        if not chunk:
            open_fds.discard(fd)
            return
        buf.feed(chunk)
        if buf.over and self.killed_by is None and self.reply is None:
            self.killed_by = "output"
            with suppress(OSError):
                _send(self.server.sock, {"op": "kill", "why": "output"})

    def _result(self, start: float) -> ProcessResult:
        duration = round(time.monotonic() - start, 6)
        common = {
            "argv": self.argv,
            "stdout": self.out.text(),
            "stderr": self.err.text(),
            "duration_s": duration,
            "output_truncated": bool(self.out.dropped or self.err.dropped),
        }
        reply = self.reply
        if reply is None or reply.get("status") is None:
            if self.killed_by == "wall":
                return ProcessResult(exit_code=-signal.SIGKILL, killed_by="wall", **common)
            error = self.server.dead or "the warm interpreter gave no answer"
            return ProcessResult(exit_code=None, error=error, **common)
        code = os.waitstatus_to_exitcode(int(reply["status"]))
        killed = self.killed_by or reply.get("killed")
        if killed not in ("wall", "output"):
            killed = signal_cause(code, self.limits) if code else None
        if killed is None and code and memory_exhausted(self.err.text(), self.limits):
            killed = "memory"
        return ProcessResult(exit_code=code, killed_by=killed, **common)


class _Warm(Protocol):
    """What a sandbox hands out for one server (its runner around a :class:`WarmPython`)."""

    @property
    def server(self) -> WarmPython: ...


W = TypeVar("W", bound=_Warm)


class WarmServers(Generic[W]):
    """The warm interpreters of one sandbox, one per arguments: the one start-up path.

    A server is reused while it is alive and restarted when it died; a server that cannot be
    started is logged and ``None`` is returned, so that the caller runs cold instead.
    """

    def __init__(self, owned: Owned) -> None:
        self._lock = threading.Lock()
        self._servers: dict[tuple[object, ...], W] = {}
        self._owned = owned

    def __len__(self) -> int:
        return len(self._servers)

    def get(
        self,
        key: tuple[object, ...],
        *,
        python: str,
        prepare: Callable[[], Callable[[int], subprocess.Popen[bytes]]],
        wrap: Callable[[WarmPython], W],
    ) -> W | None:
        """The live server for ``key``, else a new one.

        ``prepare`` makes what the server needs (scratch space, its script) and returns the
        ``popen`` of :class:`WarmPython`; ``wrap`` makes the sandbox's runner around the server,
        which the sandbox's :class:`Owned` then owns.
        """
        with self._lock:
            warm = self._servers.get(key)
        if warm is not None and warm.server.alive:
            return warm
        if warm is not None:
            warm.server.close()
        popen = prepare()
        try:
            server = WarmPython(popen, python=python)
        except (OSError, InfrastructureError) as exc:
            log.warning("no warm interpreter: %s", exc)
            return None
        if not server.alive:
            log.warning("no warm interpreter: %s", server.dead)
            return None
        self._owned.add_server(server)
        warm = wrap(server)
        with self._lock:
            self._servers[key] = warm
        return warm

    def clear(self) -> None:
        """Forget every server (their :class:`Owned` stops them)."""
        with self._lock:
            self._servers.clear()


def _select(items: Sequence[Any], timeout: float) -> tuple[list[Any], list[Any], list[Any]]:
    with selectors.DefaultSelector() as sel:
        for item in items:
            sel.register(item, selectors.EVENT_READ)
        ready = [key.fileobj for key, _ in sel.select(max(timeout, 0.0))]
    return ready, [], []


def log_tail(path: Path, limit: int = 2000) -> str:
    """The last ``limit`` characters of a server's log, for error messages."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""
