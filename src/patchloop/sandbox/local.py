"""The ``local`` sandbox: copies on tmpfs, rlimits and process groups, without namespaces.

What it enforces: a clean allow-listed environment, a private ``HOME``/``TMPDIR`` per run,
rlimits (CPU, address space, processes, open files, file size, no core dumps), a wall clock and
output caps that SIGKILL the whole process group, and removal of every scratch tree.

What it cannot enforce, and the ``bwrap`` sandbox does: network isolation, read-only views of
the rest of the file system (``readable``/``writable`` are accepted and ignored here), a process
limit that holds for root (root ignores ``RLIMIT_NPROC``), and killing a process that left the
group with ``setsid`` in a cold run (it survives; a pid namespace is needed to catch it). Warm
runs (:meth:`LocalSandbox.warm_python`) do catch those: their server is a child subreaper.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from patchloop.domain import Limits, ProcessResult
from patchloop.errors import InfrastructureError
from patchloop.sandbox._fs import (
    claim,
    copy_tree,
    is_no_space,
    make_temp_dir,
    reap_stale,
    remove_tree,
    scratch_root,
)
from patchloop.sandbox._limits import clean_env, make_preexec, rlimit_table
from patchloop.sandbox._process import supervise
from patchloop.sandbox.warm import Owned, WarmPython, WarmServers, server_argv, server_script

__all__ = ["LocalSandbox"]


class LocalSandbox:
    """Runs commands as the current user, limited by rlimits and a supervised process group.

    ``tmp_root`` fixes where workspaces and per-run scratch directories go; by default
    ``/dev/shm`` when it is usable, else the system temp directory (see
    :func:`patchloop.sandbox.scratch_root`).
    """

    name = "local"
    passes_descriptors = True

    def __init__(self, *, tmp_root: Path | None = None) -> None:
        self.tmp_root = tmp_root
        self._lock = threading.Lock()
        self._owned = Owned()
        self._warm: WarmServers[_LocalWarm] = WarmServers(self._owned)
        self._finalizer = weakref.finalize(self, self._owned.release)

    @contextmanager
    def workspace(self, template: Path) -> Iterator[Path]:
        """A fresh copy of ``template`` (named like it) in a new scratch directory.

        The directory is removed on exit, also on an exception or ``KeyboardInterrupt``. A copy
        that fills ``/dev/shm`` is retried once in the system temp directory.
        """
        base, dest = self._copy(Path(template))
        try:
            yield dest
        finally:
            remove_tree(base)

    def _copy(self, template: Path) -> tuple[Path, Path]:
        if not template.is_dir():
            raise InfrastructureError(
                f"cannot copy {template}: not a directory",
                hint="pass the project directory of the snapshot",
            )
        name = template.resolve().name or "repo"
        roots = (
            [self.tmp_root]
            if self.tmp_root is not None
            else list(dict.fromkeys([scratch_root(), Path(tempfile.gettempdir())]))
        )
        for i, root in enumerate(roots):
            base = make_temp_dir("ws", root)
            try:
                copy_tree(template, base / name)
            except OSError as exc:
                remove_tree(base)
                if is_no_space(exc) and i + 1 < len(roots):
                    continue
                raise InfrastructureError(
                    f"cannot copy {template} into a workspace: {exc.strerror or exc}",
                    hint="check free space and permissions of the temp directory",
                ) from exc
            except BaseException:
                remove_tree(base)
                raise
            return base, base / name
        raise AssertionError("unreachable")

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
        """Run ``argv`` in ``workdir`` under ``limits`` with a clean environment plus ``env``.

        ``pass_fds`` are inherited by the command at the same numbers (a report pipe).
        """
        del readable, writable  # no file-system isolation here (see the module docstring)
        with _run_env(self.tmp_root, env) as full_env:
            return supervise(
                argv,
                cwd=Path(workdir),
                env=full_env,
                limits=limits,
                preexec=make_preexec(rlimit_table(limits)),
                pass_fds=pass_fds,
            )

    # ------------------------------------------------------------------ warm runs

    def warm_python(
        self,
        python: str,
        preload: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        lane: int = 0,
    ) -> _LocalWarm | None:
        """A fork server of ``python`` that imported ``preload``; kept and reused per arguments.

        Each run is a child in its own session; afterwards its group and every process that
        left it (re-parented to the server, a child subreaper) are killed. ``None`` when no
        server can be started.
        """
        del readable
        key = (python, tuple(preload), tuple(sorted((env or {}).items())), lane)

        def prepare() -> Callable[[int], subprocess.Popen[bytes]]:
            scratch = self._server_dir()
            script = server_script(scratch)
            home, tmp = scratch / "home", scratch / "tmp"
            home.mkdir(exist_ok=True)
            tmp.mkdir(exist_ok=True)
            full_env = clean_env(path=os.environ.get("PATH"), home=home, tmp=tmp, extra=env)

            def popen(fd: int) -> subprocess.Popen[bytes]:
                with open(scratch / "server.log", "ab") as log:
                    return subprocess.Popen(
                        server_argv(python, script, fd, preload),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        cwd=scratch,
                        env=full_env,
                        start_new_session=True,
                        close_fds=True,
                        pass_fds=(fd,),
                    )

            return popen

        return self._warm.get(
            key, python=python, prepare=prepare, wrap=lambda server: _LocalWarm(self, server)
        )

    def _server_dir(self) -> Path:
        directory = make_temp_dir("srv", self.tmp_root)
        claim(directory)
        self._owned.add_path(directory)
        reap_stale(directory.parent, "srv")
        return directory

    def close(self) -> None:
        """Stop warm interpreters and remove their scratch directories."""
        self._warm.clear()
        self._owned.release()


class _LocalWarm:
    """Warm runs of a local fork server: a private ``HOME``/``TMPDIR`` per run."""

    def __init__(self, sandbox: LocalSandbox, server: WarmPython) -> None:
        self.sandbox = sandbox
        self.server = server

    def accepts(self, workdir: Path) -> bool:
        """Any existing directory."""
        return self.server.alive and Path(workdir).is_dir()

    def run(
        self,
        args: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> ProcessResult:
        """``python ARGS`` in ``workdir`` (in place, as :meth:`LocalSandbox.run`)."""
        with _run_env(self.sandbox.tmp_root, env) as full_env:
            return self.server.run(
                args, cwd=Path(workdir), env=full_env, limits=limits, pass_fds=pass_fds
            )


@contextmanager
def _run_env(tmp_root: Path | None, env: Mapping[str, str] | None) -> Iterator[dict[str, str]]:
    """The clean environment of one run, with a private ``HOME`` and ``TMPDIR`` removed after."""
    scratch = make_temp_dir("run", tmp_root)
    try:
        home, tmp = scratch / "home", scratch / "tmp"
        home.mkdir()
        tmp.mkdir()
        yield clean_env(path=os.environ.get("PATH"), home=home, tmp=tmp, extra=env)
    finally:
        remove_tree(scratch)
