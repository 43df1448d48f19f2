"""The ``local`` sandbox: copies on tmpfs, rlimits and process groups, without namespaces.

What it enforces: a clean allow-listed environment, a private ``HOME``/``TMPDIR`` per run,
rlimits (CPU, address space, processes, open files, file size, no core dumps), a wall clock and
output caps that SIGKILL the whole process group, and removal of every scratch tree.

What it cannot enforce, and the ``bwrap`` sandbox does: network isolation, read-only views of
the rest of the file system (``readable``/``writable`` are accepted and ignored here), a process
limit that holds for root (root ignores ``RLIMIT_NPROC``), and killing a process that left the
group with ``setsid`` (it survives the run; a pid namespace is needed to catch it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from patchloop.domain import Limits, ProcessResult
from patchloop.errors import InfrastructureError
from patchloop.sandbox._fs import (
    copy_tree,
    is_no_space,
    make_temp_dir,
    remove_tree,
    scratch_root,
)
from patchloop.sandbox._limits import clean_env, make_preexec, rlimit_table
from patchloop.sandbox._process import supervise

__all__ = ["LocalSandbox"]


class LocalSandbox:
    """Runs commands as the current user, limited by rlimits and a supervised process group.

    ``tmp_root`` fixes where workspaces and per-run scratch directories go; by default
    ``/dev/shm`` when it is usable, else the system temp directory (see
    :func:`patchloop.sandbox.scratch_root`).
    """

    name = "local"

    def __init__(self, *, tmp_root: Path | None = None) -> None:
        self.tmp_root = tmp_root

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
    ) -> ProcessResult:
        """Run ``argv`` in ``workdir`` under ``limits`` with a clean environment plus ``env``."""
        del readable, writable  # no file-system isolation here (see the module docstring)
        scratch = make_temp_dir("run", self.tmp_root)
        try:
            home, tmp = scratch / "home", scratch / "tmp"
            home.mkdir()
            tmp.mkdir()
            full_env = clean_env(path=os.environ.get("PATH"), home=home, tmp=tmp, extra=env)
            return supervise(
                argv,
                cwd=Path(workdir),
                env=full_env,
                limits=limits,
                preexec=make_preexec(rlimit_table(limits)),
            )
        finally:
            remove_tree(scratch)
