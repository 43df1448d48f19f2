"""A warm Python that forks once per run: the fork server behind ``warm_python``.

This file is copied out of the package and run as a script by the interpreter that runs the
tests, inside the sandbox: it imports nothing from patchloop, only the standard library and the
modules it is told to preload (pytest and its plugins, never the project's own code).

Protocol, over the ``AF_UNIX``/``SOCK_SEQPACKET`` socket given as ``--control FD``: one JSON
message per datagram. The server says ``{"ready": ...}`` once preloaded. A run request carries
its output pipes and extra descriptors as ``SCM_RIGHTS``; the server forks a child that becomes
``python ARGS...`` in a fresh working copy, waits for it (wall clock, ``{"op": "kill"}``
requests), kills everything the child left behind, cleans up, and answers with the wait status.

Each child: a new session; the descriptors at the numbers asked for; rlimits; a private copy of
the workspace (``mirror``); the environment of the request; ``sys.path`` as ``python -m`` or
``python SCRIPT`` would build it. When the request needs something a forked interpreter cannot
provide faithfully (another hash seed, locale, ``PYTHON*`` variables, a project module that
shadows a preloaded one), the child execs a fresh interpreter instead.
"""

# ruff: noqa: E402 - the module list must be taken before this script imports anything else.
from __future__ import annotations

import sys

#: What a fresh interpreter has imported before it runs anything: these cannot be shadowed.
_AT_START = frozenset(sys.modules)

import array
import ctypes
import gc
import importlib
import json
import os
import resource
import select
import shutil
import signal
import socket
import stat
import time
import traceback
from contextlib import suppress
from typing import Any

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_MAX_FDS = 16
_MAX_MESSAGE = 1 << 20
#: ``PYTHON*`` variables a forked child can honour; any other one needs a fresh interpreter.
_EMULATED = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONNOUSERSITE"}
#: Variables fixed when the interpreter started; a request that changes them is exec'd.
_STARTUP = ("PYTHONHASHSEED", "PYTHONNOUSERSITE", "LC_ALL", "LC_CTYPE", "LANG")


def _prctl(option: int, value: int) -> None:
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _recv(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    fds = array.array("i")
    msg, ancdata, _flags, _addr = sock.recvmsg(
        _MAX_MESSAGE, socket.CMSG_LEN(_MAX_FDS * fds.itemsize)
    )
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not msg:
        return None, list(fds)
    return json.loads(msg.decode("utf-8")), list(fds)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode("utf-8"))


# ---------------------------------------------------------------------------- the child


def _copy_file(src: str, dst: str, st: os.stat_result) -> None:
    mode = stat.S_IMODE(st.st_mode)
    fd_in = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            offset = 0
            while offset < st.st_size:
                sent = os.sendfile(fd_out, fd_in, offset, st.st_size - offset)
                if sent == 0:
                    break
                offset += sent
            os.fchmod(fd_out, mode)
            os.utime(fd_out, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


def _copy_tree(src: str, dst: str) -> None:
    """Copy a tree keeping modes and mtimes (valid ``__pycache__``), symlinks as symlinks."""
    os.mkdir(dst, 0o700)
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir(follow_symlinks=False):
            _copy_tree(entry.path, target)
        elif entry.is_file(follow_symlinks=False):
            _copy_file(entry.path, target, entry.stat(follow_symlinks=False))
    st = os.stat(src)
    os.chmod(dst, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _place_fds(fds: list[int], targets: list[int]) -> None:
    import fcntl

    # Move the received descriptors above every target first, so no dup2 clobbers another.
    floor = max([*targets, *fds, 2]) + 1
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in fds]
    for fd in fds:
        os.close(fd)
    for fd, target in zip(high, targets):  # noqa: B905 - same length; runs on old Pythons too
        os.dup2(fd, target, inheritable=True)
        os.close(fd)
    keep = {0, 1, 2, *targets}
    for fd in _open_fds():
        if fd not in keep:
            with suppress(OSError):
                os.close(fd)


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))


def _shadowed(preloaded: dict[str, str], dirs: list[str]) -> str | None:
    """A preloaded module that ``dirs`` (searched first by the run) hold another copy of."""
    for directory in dirs:
        for name, origin in preloaded.items():
            base = os.path.join(directory, name)
            for candidate in (base + ".py", os.path.join(base, "__init__.py")):
                if os.path.isfile(candidate) and os.path.realpath(candidate) != origin:
                    return name
    return None


def _needs_exec(env: dict[str, str]) -> str | None:
    for key in env:
        if key.startswith("PYTHON") and key not in _EMULATED:
            return key
    for key in _STARTUP:
        if env.get(key) != os.environ.get(key):
            return key
    return None


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _setup(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: session, descriptors, rlimits, private copy, working directory."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _prctl(_PR_SET_DUMPABLE, 1)
    _place_fds(fds, [int(t) for t in request["fds"]])
    for res, soft, hard in request.get("rlimits", []):
        resource.setrlimit(int(res), (int(soft), int(hard)))
    mirror = request.get("mirror")
    if mirror:
        os.makedirs(os.path.dirname(mirror[1]), exist_ok=True)
        _copy_tree(mirror[0], mirror[1])
    os.chdir(request["cwd"])


def _run_python(args: list[str], extra: list[str], state: dict[str, Any]) -> int:
    """Run ``python ARGS`` in this process as a fresh interpreter would; the exit status."""
    import runpy

    if args[0] == "-m":
        first = os.getcwd()
        sys.argv = [args[1], *args[2:]]
    else:
        first = os.path.dirname(os.path.abspath(args[0]))
        sys.argv = list(args)
    sys.path[:] = [first, *[os.path.abspath(p) for p in extra], *state["base_path"]]
    try:
        if args[0] == "-m":
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(args[0], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        traceback.print_exc()
        code = 1
    with suppress(BaseException):
        import atexit

        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(BaseException):
            stream.flush()
    return code


def _become(request: dict[str, Any], fds: list[int], state: dict[str, Any]) -> int:
    """In the forked child: set up, then run ``python ARGS``; returns the exit status."""
    _setup(request, fds)
    env = {str(k): str(v) for k, v in request["env"].items()}
    args = [str(a) for a in request["args"]]
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    plain = bool(args) and ((args[0] == "-m" and len(args) > 1) or not args[0].startswith("-"))
    reason = _needs_exec(env) or _shadowed(state["preloaded"], [os.getcwd(), *extra])
    if reason is not None or not plain:
        os.execve(sys.executable, [sys.executable, *args], env)
    os.environ.clear()
    os.environ.update(env)
    if hasattr(time, "tzset"):
        time.tzset()
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    return _run_python(args, extra, state)


# ---------------------------------------------------------------------------- the server


def _kill_all(child: int, pidns: bool) -> None:
    if pidns:
        # Alone in the sandbox's pid namespace with its children: everything else goes.
        with suppress(OSError):
            os.kill(-1, signal.SIGKILL)
        return
    with suppress(OSError):
        os.killpg(child, signal.SIGKILL)
    me = str(os.getpid())
    # As a child subreaper, processes that left the group (setsid daemons) are re-parented here.
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields and fields[1].decode() == me:
            with suppress(OSError):
                os.kill(int(name), signal.SIGKILL)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _wipe(paths: list[str], keep: list[str]) -> None:
    """Empty each of ``paths``, sparing entries that are or hold a path in ``keep`` (mounts)."""
    for path in paths:
        if not os.path.isdir(path):
            continue
        for name in os.listdir(path):
            full = os.path.join(path, name)
            if any(k == full or k.startswith(full + "/") for k in keep):
                continue
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, ignore_errors=True)
            else:
                with suppress(OSError):
                    os.unlink(full)


def _wait(sock: socket.socket, pid: int, deadline: float, pidns: bool) -> tuple[int, str | None]:
    """Wait for the child under the wall clock and kill requests: (wait status, why killed)."""
    killed = None
    pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    try:
        while True:
            waits = [sock.fileno()] + ([pidfd] if pidfd is not None else [])
            timeout = max(deadline - time.monotonic(), 0.0)
            if pidfd is None:
                timeout = min(timeout, 0.01)
            ready, _, _ = select.select(waits, [], [], timeout)
            if sock.fileno() in ready:
                message, extra = _recv(sock)
                for fd in extra:
                    os.close(fd)
                if message is None:
                    _kill_all(pid, pidns)
                    raise SystemExit(0)
                if message.get("op") == "kill" and killed is None:
                    killed = str(message.get("why") or "harness")
                    _kill_all(pid, pidns)
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                return raw, killed
            if time.monotonic() >= deadline and killed is None:
                killed = "wall"
                _kill_all(pid, pidns)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _cleanup(request: dict[str, Any], pid: int, pidns: bool) -> None:
    """After a run: kill what it left, reap, drop its copy, empty the scratch directories."""
    _kill_all(pid, pidns)
    _reap()
    mirror = request.get("mirror")
    if mirror:
        shutil.rmtree(os.path.dirname(mirror[1]), ignore_errors=True)
    _wipe(list(request.get("wipe", [])), list(request.get("keep", [])))
    home = request["env"].get("HOME")
    if home and request.get("wipe"):
        os.makedirs(home, exist_ok=True)


def _serve_one(
    sock: socket.socket, request: dict[str, Any], fds: list[int], state: dict[str, Any]
) -> None:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sock.close()
            code = _become(request, fds, state)
        except BaseException:
            with suppress(BaseException):
                traceback.print_exc()
                sys.stderr.flush()
        os._exit(code)
    for fd in fds:
        os.close(fd)
    status, killed = _wait(sock, pid, started + float(request["wall_s"]), state["pidns"])
    duration = time.monotonic() - started
    _cleanup(request, pid, state["pidns"])
    _send(sock, {"id": request.get("id"), "status": status, "killed": killed, "duration": duration})


def _preload(specs: list[str]) -> tuple[dict[str, str], list[str]]:
    """Import ``specs``; every module a fresh run would import anew (name -> file); failures.

    Those are the modules a project file of the same name would shadow in a fresh interpreter,
    including the ones this server imported for itself.
    """
    failed = []
    for spec in specs:
        module_name, _, func = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
            if func:
                getattr(module, func)()
        except BaseException as exc:  # a plugin that fails to import is the run's business
            failed.append(f"{spec}: {type(exc).__name__}: {exc}")
    loaded: dict[str, str] = {}
    for name in set(sys.modules) - _AT_START:
        top = name.split(".")[0]
        if top in _AT_START:
            continue
        origin = getattr(sys.modules.get(top), "__file__", None)
        loaded[top] = os.path.realpath(origin) if origin else ""
    return loaded, failed


def main(argv: list[str]) -> int:
    """Serve runs on ``--control FD`` after importing ``--preload JSON``."""
    control = int(argv[argv.index("--control") + 1])
    specs = json.loads(argv[argv.index("--preload") + 1])
    pidns = "--pidns" in argv
    _prctl(_PR_SET_DUMPABLE, 0)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    sock = socket.socket(fileno=control)
    # The child rebuilds sys.path from its request; these are the interpreter's own entries.
    script_dir = os.path.dirname(os.path.abspath(__file__))
    extra = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    base_path = [p for p in sys.path if p not in (script_dir, "") and p not in extra]
    preloaded, failed = _preload(specs)
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()  # forked children then never touch (copy) the preloaded heap in a collection
    state = {"preloaded": preloaded, "base_path": base_path, "pidns": pidns}
    _send(sock, {"ready": True, "pid": os.getpid(), "failed": failed, "python": sys.version})
    while True:
        request, fds = _recv(sock)
        if request is None:
            return 0
        if request.get("op") == "kill":
            for fd in fds:
                os.close(fd)
            continue
        _serve_one(sock, request, fds, state)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
