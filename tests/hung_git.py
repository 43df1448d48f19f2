"""A ``git`` that hangs like one stuck on a lock or a dead network, with a child holding the
pipes: the child would touch a marker file later, so a marker proves it was not killed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

#: Seconds the hung git's child waits before touching its marker.
CHILD_S = 20


def install_hung_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Put the hung ``git`` first on ``PATH``; return the child's pid file and marker file."""
    bin_dir = tmp_path / "hung-bin"
    bin_dir.mkdir()
    pid_file, marker = tmp_path / "child.pid", tmp_path / "child.done"
    fake = bin_dir / "git"
    fake.write_text(
        f"#!/bin/sh\n(sleep {CHILD_S}; touch '{marker}') &\necho $! > '{pid_file}'\nsleep 600\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return pid_file, marker


def gone(pid_file: Path) -> bool:
    """Whether the hung git's child has died (it may linger briefly as a zombie)."""
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False
