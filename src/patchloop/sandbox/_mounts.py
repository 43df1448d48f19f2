"""What a bubblewrap sandbox mounts: system directories, an interpreter's files, and extras.

Only what a test run needs is visible inside: ``/usr`` and the merged-``/usr`` symlinks, a few
harmless files of ``/etc`` (never ``shadow``), the directories of the Python interpreter that runs
the tests (found by asking that interpreter once), and the caller's ``readable``/``writable``
paths. Everything is mounted at the same path as on the host, so paths in output mean the same
inside and out.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Bind",
    "interpreter_of",
    "interpreter_paths",
    "resolve_command",
    "system_args",
    "traversable",
]

#: Top-level system directories (or merged-``/usr`` symlinks) made visible read-only.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Files and directories of ``/etc`` that programs read and that hold no secrets.
ETC_PATHS = (
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/group",
    "/etc/host.conf",
    "/etc/hosts",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/nsswitch.conf",
    "/etc/os-release",
    "/etc/passwd",
    "/etc/protocols",
    "/etc/services",
    "/etc/ssl",
)
_PROBE = (
    "import json, os, sys; print(json.dumps({'paths': [sys.prefix, sys.base_prefix, "
    "sys.exec_prefix, sys.base_exec_prefix, os.path.realpath(sys.executable)] + sys.path}))"
)
_PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Bind:
    """Host ``source`` made visible at ``path`` inside (read-only unless ``writable``)."""

    path: str
    writable: bool = False
    source: str | None = None
    """Where bwrap finds the tree, when not at ``path`` itself (a staged view)."""


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def system_args() -> list[str]:
    """bwrap arguments for the system directories and the allow-listed ``/etc`` entries."""
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    etc = [*ETC_PATHS, *sorted(str(p) for p in Path("/etc").glob("python3*"))]
    for path in etc:
        if os.path.exists(path):
            args += ["--ro-bind-try", path, path]
    return args


def _system(path: str) -> bool:
    return _under(path, [d for d in SYSTEM_DIRS if not os.path.islink(d)])


@functools.lru_cache(maxsize=32)
def _probe(python: str) -> tuple[str, ...]:
    # Runs the interpreter itself (isolated mode: no cwd, no PYTHON* variables) to learn where
    # its standard library, site-packages and .pth-listed directories are.
    try:
        done = subprocess.run(
            [python, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd="/",
        )
        raw = json.loads(done.stdout)["paths"] if done.returncode == 0 else []
    except (OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError):
        raw = []
    return tuple(str(p) for p in raw if isinstance(p, str) and p)


def _collapse(paths: Iterable[str]) -> list[str]:
    """Existing absolute paths without those inside another one of them, sorted."""
    unique = sorted({os.path.normpath(p) for p in paths if os.path.isabs(p) and os.path.exists(p)})
    kept: list[str] = []
    for path in unique:
        if not _under(path, kept):
            kept.append(path)
    return kept


def interpreter_paths(python: str) -> list[str]:
    """Host paths the interpreter ``python`` needs, outside the system directories.

    The interpreter's prefixes, its real executable's directory, its ``sys.path`` entries, and
    for a virtual environment the environment's own directory (where ``pyvenv.cfg`` lives).
    """
    paths = list(_probe(python))
    exe = Path(python)
    venv = exe.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        paths.append(str(venv))
    paths.append(str(exe.parent))
    paths.append(os.path.dirname(os.path.realpath(python)))
    return [p for p in _collapse(paths) if not _system(p)]


def resolve_command(name: str, path_var: str) -> str | None:
    """Absolute path of the executable ``name`` on ``path_var`` (as the shell finds it)."""
    if "/" in name:
        full = os.path.abspath(name)
        return full if os.path.isfile(full) and os.access(full, os.X_OK) else None
    return shutil.which(name, path=path_var)


def interpreter_of(executable: str) -> str | None:
    """The Python interpreter behind ``executable``: itself, or the one its shebang names."""
    base = os.path.basename(executable)
    if base.startswith("python"):
        return executable
    try:
        with open(executable, "rb") as fh:
            first = fh.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    parts = first[2:].decode("utf-8", "replace").split()
    if not parts:
        return None
    if os.path.basename(parts[0]) == "env" and len(parts) > 1:
        return shutil.which(parts[1])
    return parts[0] if os.path.basename(parts[0]).startswith("python") else None


def command_paths(executable: str) -> list[str]:
    """Host paths needed to run ``executable``: its directory and, for Python, the interpreter's."""
    paths = [os.path.dirname(executable), os.path.dirname(os.path.realpath(executable))]
    python = interpreter_of(executable)
    if python is not None:
        paths += interpreter_paths(python)
    return [p for p in _collapse(paths) if not _system(p)]


def traversable(path: str, uid: int, gid: int) -> bool:
    """Whether every directory above ``path`` lets ``uid``/``gid`` through (mode bits only)."""
    parent = os.path.dirname(os.path.abspath(path))
    while True:
        try:
            st = os.stat(parent)
        except OSError:
            return False
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
        if parent == "/":
            return True
        parent = os.path.dirname(parent)


def bind_args(binds: Sequence[Bind]) -> list[str]:
    """bwrap arguments for ``binds``, parents before children so none hides another."""
    args: list[str] = []
    for bind in sorted(binds, key=lambda b: (b.path.count("/"), b.path)):
        args += ["--bind" if bind.writable else "--ro-bind", bind.source or bind.path, bind.path]
    return args
