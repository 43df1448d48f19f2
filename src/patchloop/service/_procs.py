"""Process plumbing for workers and the supervisor (Linux): parent-death signals, subreaping,
and killing a whole process tree, including children that started their own sessions."""

from __future__ import annotations

import ctypes
import os
import signal
from collections import defaultdict
from contextlib import suppress

__all__ = ["become_subreaper", "children_of", "die_with_parent", "kill_tree", "tree"]

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies."""
    _prctl(_PR_SET_PDEATHSIG, int(sig))


def become_subreaper() -> None:
    """Orphans of our descendants are re-parented to this process instead of init."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _parents() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = defaultdict(list)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1:
            kids[int(fields[1])].append(int(name))
    return kids


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    return list(_parents().get(pid, ()))


def tree(root: int) -> list[int]:
    """``root`` and all its descendants, parents before children."""
    kids = _parents()
    found, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo.extend(kids.get(pid, ()))
    return found


def kill_tree(root: int) -> None:
    """Stop every process of ``root``'s tree first (so none can fork away), then kill them and
    the process groups they lead."""
    pids = tree(root)
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGSTOP)
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
