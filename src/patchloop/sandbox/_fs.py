"""Scratch directories: where they live, how trees are copied into them and removed again.

Scratch space prefers ``/dev/shm`` (tmpfs): a 900-file copy there takes ~0.1 s and deletes in
~20 ms, against ~0.9 s and ~4 s on an ext4 disk. When ``/dev/shm`` is missing, not writable or
short of room, the system temp directory is used instead.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "TEMP_PREFIX",
    "claim",
    "copy_tree",
    "make_temp_dir",
    "owned_temp_dir",
    "read_untrusted",
    "reap_stale",
    "remove_tree",
    "scratch_root",
]

log = logging.getLogger("patchloop.sandbox")

#: Every scratch directory name starts with this, so paths can be recognised and scrubbed.
TEMP_PREFIX = "patchloop-"
SHM = Path("/dev/shm")
#: Free bytes ``/dev/shm`` must have before it is used at all.
MIN_SHM_FREE = 256 * 1024 * 1024
#: Mode bits ``share`` adds to files and to directories.
_SHARED = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_SHARED_DIR = _SHARED | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


def _free_bytes(path: Path) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def scratch_root(need_bytes: int = 0) -> Path:
    """The directory scratch trees go into: ``/dev/shm`` when usable, else the system temp dir."""
    if (
        SHM.is_dir()
        and os.access(SHM, os.W_OK | os.X_OK)
        and _free_bytes(SHM) >= MIN_SHM_FREE + need_bytes
    ):
        return SHM
    return Path(tempfile.gettempdir())


def make_temp_dir(kind: str, root: Path | None = None) -> Path:
    """A new private (0700) directory named ``patchloop-<kind>-XXXX`` under ``root``."""
    base = root if root is not None else scratch_root()
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{kind}-", dir=base))


def _read_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777  # unknown: always set the mode explicitly


#: The process umask, read once: files are created with their final mode and only need a
#: separate ``fchmod`` when the umask would strip some of its bits.
_UMASK = _read_umask()


def _copy_file(src: str, dst: str, st: os.stat_result, extra_mode: int = 0) -> None:
    # The fewest system calls per file: copies of large trees are dominated by them.
    mode = stat.S_IMODE(st.st_mode) | extra_mode
    fd_in = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            offset = 0
            while offset < st.st_size:
                sent = os.sendfile(fd_out, fd_in, offset, st.st_size - offset)
                if sent == 0:  # the file shrank while we copied it
                    break
                offset += sent
            if mode & _UMASK:
                os.fchmod(fd_out, mode)
            # Same mtime as the template keeps its __pycache__ valid in the copy.
            os.utime(fd_out, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


def _copy_dir(src: str, dst: str, share: bool) -> None:
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
            st = entry.stat(follow_symlinks=False)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(target, 0o700)
            _copy_dir(entry.path, target, share)
            _copy_dir_stat(entry.path, target, share)
        elif entry.is_file(follow_symlinks=False):
            _copy_file(
                entry.path, target, entry.stat(follow_symlinks=False), _SHARED if share else 0
            )
        # Sockets, fifos and devices are not part of a source tree; they are skipped.


def _copy_dir_stat(src: str, dst: str, share: bool = False) -> None:
    st = os.stat(src, follow_symlinks=False)
    extra = stat.S_IRWXU | (_SHARED_DIR if share else 0)
    os.chmod(dst, stat.S_IMODE(st.st_mode) | extra)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def copy_tree(src: Path, dst: Path, *, share: bool = False) -> None:
    """Copy the tree at ``src`` to the new directory ``dst``.

    Files are real copies (never hard links, which would let a write in the copy corrupt the
    template); modes and mtimes are kept so bytecode caches stay valid; symlinks stay symlinks,
    with their targets unchanged; special files are skipped. Directories get owner ``rwx`` added
    so the copy can always be written to and removed. ``share`` also makes every file readable
    and every directory searchable by all users, for a sandbox that runs as another uid.
    """
    os.mkdir(dst, 0o700)
    _copy_dir(os.fspath(src), os.fspath(dst), share)
    _copy_dir_stat(os.fspath(src), os.fspath(dst), share)


def _retry_writable(root: str, func: Callable[..., Any], path: str, _exc: object) -> None:
    # A read-only directory (chmod'ed by a test) blocks removal of its entries. Only
    # directories of the tree being removed are made writable, never the one holding it
    # (``/dev/shm`` itself).
    parent = os.path.dirname(path)
    if parent != root and not parent.startswith(root + os.sep):
        log.warning("could not remove %s", path)
        return
    try:
        os.chmod(parent, stat.S_IRWXU)
        if func in (os.rmdir, os.unlink, os.remove):
            func(path)
        else:
            shutil.rmtree(path, ignore_errors=True)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc.strerror)


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it; never raises (failures are logged)."""
    retry = functools.partial(_retry_writable, os.path.abspath(path))
    kwargs: dict[str, Any] = {"onexc": retry} if sys.version_info >= (3, 12) else {"onerror": retry}
    try:
        shutil.rmtree(path, **kwargs)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc.strerror)


#: File in a long-lived scratch directory naming the process that owns it.
OWNER_FILE = ".owner"


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def claim(directory: Path) -> None:
    """Mark ``directory`` as owned by this process (see :func:`reap_stale`)."""
    pid = os.getpid()
    (directory / OWNER_FILE).write_text(f"{pid} {_start_time(pid)}\n", encoding="ascii")


def reap_stale(parent: Path, kind: str) -> int:
    """Remove ``patchloop-<kind>-*`` directories under ``parent`` whose owner process is gone.

    Processes killed without cleanup (``SIGKILL``, a pool worker past its deadline) leave their
    long-lived scratch directories behind; the next sandbox removes them. Directories without
    an owner file are left alone. Returns how many were removed.
    """
    removed = 0
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(f"{TEMP_PREFIX}{kind}-"):
            continue
        try:
            pid_text, started = (Path(entry.path) / OWNER_FILE).read_text("ascii").split()
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and _start_time(pid) != started:
            remove_tree(Path(entry.path))
            removed += 1
    return removed


def owned_temp_dir(kind: str, root: Path | None = None) -> Path:
    """A new private directory ``patchloop-<kind>-XXXX`` under ``root`` (the system temp dir
    by default), claimed by this process; leftovers of the same kind from processes that are
    gone (a worker killed past its deadline, ``SIGKILL``) are removed first."""
    base = root if root is not None else Path(tempfile.gettempdir())
    reap_stale(base, kind)
    directory = make_temp_dir(kind, base)
    claim(directory)
    return directory


def read_untrusted(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of a file the code under test could have written or replaced, read safely.

    Opened without following a symlink and without blocking (a FIFO in its place cannot hang
    the harness), read only when it is a regular file, and never more than ``max_bytes + 1``
    bytes (a caller sees ``len(data) > max_bytes`` for a file too large, e.g. ``/dev/zero``
    behind a name). ``None``: missing, not a regular file, or unreadable.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def is_no_space(exc: OSError) -> bool:
    """Whether ``exc`` says the file system is full."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)
