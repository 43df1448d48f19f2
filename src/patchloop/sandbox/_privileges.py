"""Start bubblewrap as an unprivileged user when patchloop itself runs as root.

Root is exempt from ``RLIMIT_NPROC`` and can read every file, so the sandbox is entered as an
unprivileged uid (65534 by default). Directories that uid cannot reach on the host (a Python
installed under ``/root``) are first bind-mounted onto reachable, empty "view" directories in a
private mount namespace of the child; the host never sees those mounts, and they vanish with the
child.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence

from patchloop.sandbox._limits import RlimitTable

__all__ = ["DropPrivileges"]

_CLONE_NEWNS = 0x00020000
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - every Linux libc loads
    _LIBC = None


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno() or errno.EPERM
        raise OSError(err, f"{what}: {os.strerror(err)}")


class DropPrivileges:
    """A ``preexec_fn``: stage views, drop to ``uid``/``gid`` with no groups, apply rlimits.

    Everything it needs is computed before the fork; in the child it only makes system calls,
    so it is safe in a threaded parent.
    """

    def __init__(
        self, uid: int, gid: int, *, views: Sequence[tuple[str, str]], rlimits: RlimitTable
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.views = [(src.encode(), dst.encode()) for src, dst in views]
        self.rlimits = rlimits
        if self.views and _LIBC is None:  # pragma: no cover
            raise OSError(errno.ENOSYS, "libc is not loadable; cannot stage mounts")
        import resource

        self._setrlimit = resource.setrlimit

    def __call__(self) -> None:
        if self.views:
            assert _LIBC is not None
            _check(_LIBC.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
            _check(
                _LIBC.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None),
                "mount --make-rprivate /",
            )
            for src, dst in self.views:
                _check(_LIBC.mount(src, dst, None, _MS_BIND | _MS_REC, None), "bind mount")
        os.setgroups([])
        os.setresgid(self.gid, self.gid, self.gid)
        os.setresuid(self.uid, self.uid, self.uid)
        for res, soft, hard in self.rlimits:
            self._setrlimit(res, (soft, hard))
