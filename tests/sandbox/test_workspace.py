"""LocalSandbox.workspace: real, independent copies that are always removed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patchloop.errors import InfrastructureError
from patchloop.sandbox import scratch_root
from patchloop.sandbox.local import LocalSandbox


@pytest.fixture
def template(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("X = 1\n")
    (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\x00pyc")
    (root / "data.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (root / "empty.txt").write_text("")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "link.py").symlink_to("pkg/mod.py")
    (root / "dangling").symlink_to("does/not/exist")
    os.utime(root / "pkg" / "mod.py", ns=(1_000_000_000_000_000_000, 1_000_000_000_123_456_789))
    return root


def _snapshot(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "->" + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_bytes()
        else:
            out[rel] = "dir"
    return out


def test_copy_is_complete_and_faithful(template: Path) -> None:
    with LocalSandbox().workspace(template) as ws:
        assert ws.name == "proj"
        assert _snapshot(ws) == _snapshot(template)
        src, dst = (template / "pkg" / "mod.py").stat(), (ws / "pkg" / "mod.py").stat()
        assert dst.st_mtime_ns == src.st_mtime_ns  # keeps __pycache__ valid
        assert dst.st_ino != src.st_ino
        assert dst.st_nlink == 1  # a real copy, never a hard link
        assert (ws / "run.sh").stat().st_mode & 0o777 == 0o755
        assert (ws / "link.py").is_symlink()
        assert os.readlink(ws / "link.py") == "pkg/mod.py"
        assert (ws / "dangling").is_symlink()


def test_copy_lives_in_scratch_root(template: Path) -> None:
    with LocalSandbox().workspace(template) as ws:
        assert ws.parent.parent == scratch_root()
        assert ws.parent.name.startswith("patchloop-ws-")


def test_writes_in_the_copy_leave_the_template_alone(template: Path) -> None:
    before = _snapshot(template)
    with LocalSandbox().workspace(template) as ws:
        # In-place writes are exactly what corrupts a hard-link farm.
        with open(ws / "pkg" / "mod.py", "w") as handle:
            handle.write("X = 2\n")
        (ws / "data.bin").write_bytes(b"")
        (ws / "new.py").write_text("new\n")
        (ws / "link.py").unlink()
    assert _snapshot(template) == before


def test_removed_after_exit(template: Path) -> None:
    with LocalSandbox().workspace(template) as ws:
        assert ws.is_dir()
        # A read-only directory must not block removal.
        (ws / "pkg").chmod(0o500)
    assert not ws.exists()
    assert not ws.parent.exists()


def test_removed_after_an_exception(template: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), LocalSandbox().workspace(template) as ws:
        raise RuntimeError("boom")
    assert not ws.parent.exists()


def test_removed_after_keyboard_interrupt(template: Path) -> None:
    with pytest.raises(KeyboardInterrupt), LocalSandbox().workspace(template) as ws:
        raise KeyboardInterrupt
    assert not ws.parent.exists()


def test_each_workspace_is_fresh(template: Path) -> None:
    sandbox = LocalSandbox()
    with sandbox.workspace(template) as first:
        (first / "pkg" / "mod.py").write_text("X = 99\n")
        with sandbox.workspace(template) as second:
            assert second != first
            assert (second / "pkg" / "mod.py").read_text() == "X = 1\n"


def test_explicit_tmp_root(template: Path, tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    root.mkdir()
    with LocalSandbox(tmp_root=root).workspace(template) as ws:
        assert ws.parent.parent == root
    assert list(root.iterdir()) == []


def test_missing_template_is_an_infrastructure_error(tmp_path: Path) -> None:
    with (
        pytest.raises(InfrastructureError, match="not a directory"),
        LocalSandbox().workspace(tmp_path / "missing"),
    ):
        pass
