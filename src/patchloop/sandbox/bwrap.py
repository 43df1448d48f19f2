"""The ``bwrap`` sandbox: bubblewrap namespaces, an unprivileged uid, tmpfs copies, rlimits.

Every command runs under ``bwrap --unshare-all --die-with-parent --new-session --clearenv``:
no network (not even the host's loopback), a private pid namespace (a ``setsid`` daemon dies
with the run), an allow-listed environment, read-only system directories and interpreter, a
private size-capped ``/tmp`` holding ``HOME``, and the same rlimits, wall clock and output caps as
the ``local`` sandbox. When patchloop runs as root, bubblewrap is started as uid/gid 65534 so
that ``RLIMIT_NPROC`` binds and root-only files stay unreadable.

Workspaces are copies of the template in a scratch directory of this sandbox. A command run in
one sees a *second*, private copy made inside the sandbox on a size-capped tmpfs mounted at the
same path, so the host copy, the template and ``__pycache__`` outside stay untouched, a disk
filler hits the tmpfs cap, and every run starts from the same tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from patchloop.domain import Limits, ProcessResult
from patchloop.errors import InfrastructureError, UsageError
from patchloop.sandbox._fs import claim, copy_tree, make_temp_dir, reap_stale, remove_tree
from patchloop.sandbox._limits import DEFAULT_PATH, DETERMINISM, make_preexec, rlimit_table
from patchloop.sandbox._mounts import (
    Bind,
    bind_args,
    command_paths,
    resolve_command,
    system_args,
    traversable,
)
from patchloop.sandbox._privileges import DropPrivileges
from patchloop.sandbox._process import signal_cause, supervise
from patchloop.sandbox.warm import Owned, WarmPython, WarmServers, server_argv, server_script

__all__ = ["NOBODY", "BwrapSandbox", "bwrap_works"]


#: uid and gid of the sandboxed processes when patchloop runs as root.
NOBODY = 65534
#: Default size cap of each tmpfs inside the sandbox (``/tmp``, the workspace, ``/dev/shm``).
DEFAULT_TMPFS_BYTES = 1 << 30
#: Where the host workspace is visible (read-only) inside, as the source of the private copy.
SOURCE_MOUNT = "/.patchloop/src"
#: Exit status of the copy prelude when it cannot copy the workspace (infrastructure).
COPY_FAILED = 125
_COPY_MARK = "patchloop-sandbox: cannot prepare the workspace"
_PRELUDE = (
    'cp -PR --preserve=mode,timestamps "$1" "$2" && cd "$2" '
    f'|| {{ echo "{_COPY_MARK}" >&2; exit {COPY_FAILED}; }}; shift 2; exec "$@"'
)
HOME = "/tmp/home"


def bwrap_works(bwrap: str | None = None) -> str | None:
    """``None`` when bubblewrap can start a sandbox here, else why not (one line)."""
    exe = bwrap or shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    return _probe(exe)


_probe_lock = threading.Lock()
_probe_cache: dict[str, str | None] = {}


def _probe(exe: str) -> str | None:
    with _probe_lock:
        if exe not in _probe_cache:
            sandbox = BwrapSandbox(bwrap=exe)
            try:
                empty = sandbox.root / "probe"
                empty.mkdir(mode=0o755)
                result = sandbox.run(["true"], empty, limits=Limits(wall_s=20))
            finally:
                sandbox.close()
            if result.error or result.exit_code != 0:
                why = result.error or result.stderr.strip() or f"exit status {result.exit_code}"
                _probe_cache[exe] = f"bubblewrap cannot start a sandbox: {why.splitlines()[0]}"
            else:
                _probe_cache[exe] = None
        return _probe_cache[exe]


class BwrapSandbox:
    """Runs commands in bubblewrap sandboxes (see the module docstring).

    ``tmpfs_bytes`` caps each tmpfs inside (``/tmp`` with ``HOME``, ``/dev/shm``, the private
    workspace copy). ``uid``/``gid`` are used only when patchloop runs as root; otherwise the
    sandbox runs as the current user inside a user namespace.
    """

    name = "bwrap"
    passes_descriptors = True

    def __init__(
        self,
        *,
        tmp_root: Path | None = None,
        tmpfs_bytes: int = DEFAULT_TMPFS_BYTES,
        uid: int = NOBODY,
        gid: int = NOBODY,
        bwrap: str | None = None,
    ) -> None:
        exe = bwrap or shutil.which("bwrap")
        if exe is None:
            raise UsageError(
                "bubblewrap (bwrap) is not installed",
                hint="install it (apt-get install bubblewrap) or set sandbox.kind = 'local'",
            )
        self.bwrap = exe
        self.tmp_root = tmp_root
        self.tmpfs_bytes = tmpfs_bytes
        self.privileged = os.geteuid() == 0
        self.uid, self.gid = (uid, gid) if self.privileged else (os.getuid(), os.getgid())
        self._lock = threading.Lock()
        self._root: Path | None = None
        self._views: dict[str, str] = {}
        self._shared: dict[str, str] = {}
        self._owned = Owned()
        self._warm: WarmServers[_BwrapWarm] = WarmServers(self._owned)
        self._finalizer = weakref.finalize(self, self._owned.release)

    # ------------------------------------------------------------------ scratch space

    @property
    def root(self) -> Path:
        """This sandbox's scratch directory (workspaces, staged views), made on first use."""
        with self._lock:
            if self._root is None:
                root = make_temp_dir("bw", self.tmp_root)
                # The sandbox uid must pass through it to reach workspaces and views.
                root.chmod(0o711)
                claim(root)
                self._owned.add_path(root)
                self._root = root
                reap_stale(root.parent, "bw")
            return self._root

    def close(self) -> None:
        """Stop warm interpreters and remove the scratch directory (and workspaces in it)."""
        self._warm.clear()
        with self._lock:
            self._root = None
            self._views.clear()
            self._shared.clear()
        self._owned.release()

    @contextmanager
    def workspace(self, template: Path) -> Iterator[Path]:
        """A fresh copy of ``template`` (named like it) in this sandbox's scratch directory.

        Removed on exit, also on an exception or ``KeyboardInterrupt``.
        """
        template = Path(template)
        if not template.is_dir():
            raise InfrastructureError(
                f"cannot copy {template}: not a directory",
                hint="pass the project directory of the snapshot",
            )
        base = make_temp_dir("ws", self.root)
        try:
            base.chmod(0o755)
            dest = base / (template.resolve().name or "repo")
            copy_tree(template, dest, share=self.privileged)
        except OSError as exc:
            remove_tree(base)
            raise InfrastructureError(
                f"cannot copy {template} into a workspace: {exc.strerror or exc}",
                hint="check free space and permissions of the temp directory",
            ) from exc
        except BaseException:
            remove_tree(base)
            raise
        try:
            yield dest
        finally:
            remove_tree(base)

    def owns(self, workdir: Path) -> bool:
        """Whether ``workdir`` is a workspace made by :meth:`workspace` (copied per run)."""
        root = self._root
        if root is None:
            return False
        rel = Path(os.path.abspath(workdir)).relative_to(root) if _inside(workdir, root) else None
        return rel is not None and len(rel.parts) == 2

    # ------------------------------------------------------------------ host paths

    def _view(self, path: str) -> str:
        """A reachable stand-in for ``path`` that the privileged prelude bind-mounts it onto."""
        with self._lock:
            view = self._views.get(path)
        if view is not None:
            return view
        views = self.root / "views"
        views.mkdir(mode=0o711, exist_ok=True)
        with self._lock:
            target = views / str(len(self._views))
            self._views[path] = str(target)
        if os.path.isdir(path):
            target.mkdir(mode=0o755, exist_ok=True)
        else:
            target.touch(mode=0o644, exist_ok=True)
        return str(target)

    def _readable_copy(self, path: str) -> str:
        """``path`` itself, or a copy readable by the sandbox uid (staged once)."""
        if not self.privileged or _readable_by(path, self.uid, self.gid):
            return path
        key = f"{path}\0{_signature(path)}"  # a changed tree is staged again
        with self._lock:
            staged = self._shared.get(key)
        if staged is None:
            shared = self.root / "shared"
            shared.mkdir(mode=0o711, exist_ok=True)
            with self._lock:
                target = shared / f"{len(self._shared)}-{os.getpid()}-{threading.get_ident()}"
            if os.path.isdir(path):
                copy_tree(Path(path), target, share=True)
            else:
                shutil.copyfile(path, target)
                target.chmod(0o644)
            staged = str(target)
            with self._lock:
                self._shared[key] = staged
        return staged

    def _writable(self, path: str) -> None:
        if not self.privileged:
            return
        # The sandbox writes as its own uid; hand the tree to it (the caller, root, keeps access).
        for dirpath, dirnames, filenames in os.walk(path):
            for name in (*dirnames, *filenames):
                with suppress(OSError):
                    os.lchown(os.path.join(dirpath, name), self.uid, self.gid)
        os.chown(path, self.uid, self.gid)

    def binds(
        self, paths: Sequence[str], readable: Sequence[Path], writable: Sequence[Path]
    ) -> tuple[list[Bind], list[tuple[str, str]]]:
        """Binds for interpreter ``paths`` and the caller's extras, plus the views to stage."""
        binds: list[Bind] = []
        views: list[tuple[str, str]] = []

        def add(path: str, *, writable: bool = False, source: str | None = None) -> None:
            src = source or path
            if self.privileged and not traversable(src, self.uid, self.gid):
                view = self._view(src)
                views.append((src, view))
                src = view
            binds.append(Bind(path, writable, None if src == path else src))

        for path in paths:
            add(path)
        for extra in readable:
            path = os.path.abspath(extra)
            if os.path.exists(path):
                add(path, source=self._readable_copy(path))
        for extra in writable:
            path = os.path.abspath(extra)
            if os.path.exists(path):
                self._writable(path)
                add(path, writable=True)
        return binds, views

    # ------------------------------------------------------------------ warm runs

    def warm_python(
        self,
        python: str,
        preload: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        lane: int = 0,
    ) -> _BwrapWarm | None:
        """A fork server of ``python`` that imported ``preload``, in its own sandbox.

        Servers are kept per arguments and restarted when they died; ``None`` when one cannot
        be started (the caller runs cold instead).
        """
        key = (
            python,
            tuple(preload),
            tuple(sorted((env or {}).items())),
            tuple(map(str, readable)),
            lane,
        )
        mounted: list[str] = []

        def prepare() -> Callable[[int], subprocess.Popen[bytes]]:
            root = self.root
            server_dir = root / ("server" if not lane else f"server-{lane}")
            server_dir.mkdir(mode=0o755, exist_ok=True)
            script = server_script(server_dir)

            def popen(fd: int) -> subprocess.Popen[bytes]:
                built = self.command(
                    [*server_argv(python, script, fd, preload), "--pidns"],
                    Path("/"),
                    env=env,
                    readable=[*readable, server_dir],
                    mirror=root,
                )
                if isinstance(built, str):
                    raise InfrastructureError(f"cannot start a warm interpreter: {built}")
                bwrap_argv, views, inside = built
                mounted.extend(inside)
                with open(root / f"server-{os.getpid()}-{len(self._warm)}.log", "wb") as log:
                    return subprocess.Popen(
                        bwrap_argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        cwd="/",
                        env={"PATH": os.environ.get("PATH") or DEFAULT_PATH, "LC_ALL": "C.UTF-8"},
                        start_new_session=True,
                        close_fds=True,
                        pass_fds=(fd,),
                        # Only precomputed system calls run there (see DropPrivileges).
                        preexec_fn=self._preexec(Limits(), views),  # noqa: PLW1509
                    )

            return popen

        return self._warm.get(
            key,
            python=python,
            prepare=prepare,
            wrap=lambda server: _BwrapWarm(self, server, mounted),
        )

    # ------------------------------------------------------------------ running

    def environment(self, env: Mapping[str, str] | None) -> dict[str, str]:
        """The sandboxed command's environment: the allow-list plus ``env``."""
        full = {
            "PATH": os.environ.get("PATH") or DEFAULT_PATH,
            **DETERMINISM,
            "HOME": HOME,
            "TMPDIR": "/tmp",
        }
        full.update(env or {})
        return full

    def command(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        writable: Sequence[Path] = (),
        status_fd: int | None = None,
        mirror: Path | None = None,
    ) -> tuple[list[str], list[tuple[str, str]], list[str]] | str:
        """The bwrap argv for ``argv``, the views to stage, and the paths mounted inside.

        A workspace of this sandbox is run on a private copy (see the module docstring); any
        other ``workdir`` is bound read-write. ``mirror`` instead shows that host directory
        read-only at ``SOURCE_MOUNT`` with an empty tmpfs at its own path (for a fork server
        that makes the copies itself), and runs ``argv`` from ``/``.
        """
        full_env = self.environment(env)
        if not argv:
            return "empty command"
        exe = resolve_command(argv[0], full_env["PATH"])
        if exe is None:
            return f"command not found: {argv[0]}"
        workdir = Path(os.path.abspath(workdir))
        if not workdir.is_dir():
            return f"working directory does not exist: {workdir}"
        if mirror is None and workdir == Path("/"):
            return "refusing to make the root directory writable in the sandbox"
        binds, views = self.binds(command_paths(exe), readable, writable)
        size = str(self.tmpfs_bytes)
        args = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
        for key, value in full_env.items():
            args += ["--setenv", key, value]
        args += system_args()
        args += ["--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm"]
        args += ["--size", size, "--tmpfs", "/tmp", "--dir", HOME]
        copy = mirror is None and self.owns(workdir)
        shown = mirror if mirror is not None else workdir.parent if copy else None
        if shown is not None:
            source = str(shown)
            if self.privileged and not traversable(source, self.uid, self.gid):
                source = self._view(source)
                views.append((str(shown), source))
            # Before the binds: a bind below the mirrored directory must stay visible.
            args += ["--ro-bind", source, SOURCE_MOUNT, "--size", size, "--tmpfs", str(shown)]
        args += bind_args(binds)
        if shown is None:
            args += ["--bind", str(workdir), str(workdir)]
        # The root itself (bwrap's own tmpfs, holding the mount points) takes no writes.
        args += ["--remount-ro", "/", "--chdir", "/" if shown is not None else str(workdir)]
        if status_fd is not None:
            args += ["--json-status-fd", str(status_fd)]
        args.append("--")
        if copy:
            inner = f"{SOURCE_MOUNT}/{workdir.name}"
            args += ["/bin/sh", "-c", _PRELUDE, "patchloop-sandbox", inner, str(workdir)]
        args += [exe, *argv[1:]]
        mounted = [b.path for b in binds] + ([str(shown)] if shown is not None else [])
        return args, views, mounted

    def run(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        writable: Sequence[Path] = (),
        pass_fds: Sequence[int] = (),
    ) -> ProcessResult:
        """Run ``argv`` in ``workdir`` inside a fresh sandbox under ``limits``.

        ``pass_fds`` are inherited by the command at the same numbers (a report pipe).
        A sandbox that cannot be set up gives ``exit_code=None`` and ``error``.
        """
        status_r, status_w = os.pipe()
        try:
            built = self.command(
                argv, workdir, env=env, readable=readable, writable=writable, status_fd=status_w
            )
            if isinstance(built, str):
                return ProcessResult(argv=tuple(argv), exit_code=None, error=built)
            bwrap_argv, views, _mounted = built
            result = supervise(
                bwrap_argv,
                cwd=Path("/"),
                env={"PATH": os.environ.get("PATH") or DEFAULT_PATH, "LC_ALL": "C.UTF-8"},
                limits=limits,
                preexec=self._preexec(limits, views),
                pass_fds=(status_w, *pass_fds),
            )
        finally:
            os.close(status_w)
            status = _read_status(status_r)
        return self._interpret(result.model_copy(update={"argv": tuple(argv)}), status, limits)

    def _preexec(self, limits: Limits, views: list[tuple[str, str]]) -> Callable[[], None]:
        table = rlimit_table(limits)
        if self.privileged:
            return DropPrivileges(self.uid, self.gid, views=views, rlimits=table)
        return make_preexec(table)

    def _interpret(
        self, result: ProcessResult, status: dict[str, int], limits: Limits
    ) -> ProcessResult:
        if result.error is not None or result.killed_by in ("wall", "output"):
            return result
        code = result.exit_code
        if "exit-code" not in status:
            # bwrap never started the command: a failure of the sandbox, not of the command.
            why = next((ln for ln in result.stderr.splitlines() if ln.startswith("bwrap:")), "")
            return result.model_copy(
                update={"error": f"the sandbox could not be set up: {why or f'exit {code}'}"}
            )
        if code == COPY_FAILED and _COPY_MARK in result.stderr:
            return result.model_copy(
                update={"error": "the workspace could not be copied into the sandbox (tmpfs full?)"}
            )
        if code is not None and code > 128 and result.killed_by is None:
            # bwrap reports a command killed by signal N as exit status 128 + N.
            cause = signal_cause(-(code - 128), limits)
            return result.model_copy(update={"killed_by": cause})
        return result


class _BwrapWarm:
    """Warm runs on a fork server inside one long-lived bwrap sandbox."""

    def __init__(self, sandbox: BwrapSandbox, server: WarmPython, mounted: list[str]) -> None:
        self.sandbox = sandbox
        self.server = server
        self.mounted = mounted

    def accepts(self, workdir: Path) -> bool:
        """Only workspaces of this sandbox: the server sees them through its mirror."""
        return self.server.alive and self.sandbox.owns(workdir)

    def run(
        self,
        args: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> ProcessResult:
        """``python ARGS`` in a private copy of the workspace ``workdir``."""
        workdir = Path(os.path.abspath(workdir))
        rel = workdir.relative_to(self.sandbox.root).as_posix()
        return self.server.run(
            args,
            cwd=workdir,
            env=self.sandbox.environment(env),
            limits=limits,
            pass_fds=pass_fds,
            mirror=(f"{SOURCE_MOUNT}/{rel}", str(workdir)),
            wipe=("/tmp", "/dev/shm"),
            keep=(*self.mounted, SOURCE_MOUNT),
        )


def _read_status(fd: int) -> dict[str, int]:
    data = b""
    try:
        os.set_blocking(fd, False)
        with suppress(BlockingIOError):
            while chunk := os.read(fd, 65536):
                data += chunk
    finally:
        os.close(fd)
    status: dict[str, int] = {}
    decoder = json.JSONDecoder()
    text = data.decode("utf-8", "replace")
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        if isinstance(obj, dict):
            status.update({k: v for k, v in obj.items() if isinstance(v, int)})
    return status


def _signature(path: str) -> str:
    """Names, sizes and mtimes of everything under ``path`` (cheap change detection)."""
    parts: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            with suppress(OSError):
                st = os.lstat(name)
                parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    if not parts:
        with suppress(OSError):
            st = os.lstat(path)
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _inside(path: Path, root: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(root)


def _readable_by(path: str, uid: int, gid: int) -> bool:
    """Whether ``uid`` can read ``path`` and, for a directory, everything below it."""
    import stat as st

    def ok(p: str, directory: bool) -> bool:
        info = os.stat(p)
        if info.st_uid == uid:
            need = st.S_IRUSR | (st.S_IXUSR if directory else 0)
        elif info.st_gid == gid:
            need = st.S_IRGRP | (st.S_IXGRP if directory else 0)
        else:
            need = st.S_IROTH | (st.S_IXOTH if directory else 0)
        return info.st_mode & need == need

    try:
        if not os.path.isdir(path):
            return ok(path, False)
        for dirpath, _dirnames, filenames in os.walk(path):
            if not ok(dirpath, True):
                return False
            if not all(ok(os.path.join(dirpath, f), False) for f in filenames):
                return False
    except OSError:
        return False
    return True
