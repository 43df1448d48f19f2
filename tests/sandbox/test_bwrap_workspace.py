"""BwrapSandbox workspaces and bad input: copies, cleanup, missing commands, missing bubblewrap."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from patchloop.config import SandboxSettings
from patchloop.domain import Limits
from patchloop.errors import InfrastructureError, UsageError
from patchloop.sandbox import get_sandbox
from patchloop.sandbox._fs import claim, reap_stale
from patchloop.sandbox.bwrap import BwrapSandbox, bwrap_works
from patchloop.sandbox.local import LocalSandbox

PY = sys.executable


@pytest.fixture
def template(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "link").symlink_to("pkg/__init__.py")
    return root


def test_copy_is_a_real_copy_and_goes_away(bwrap: BwrapSandbox, template: Path) -> None:
    with bwrap.workspace(template) as ws:
        assert ws.name == "proj"
        assert bwrap.owns(ws)
        target = ws / "pkg" / "__init__.py"
        assert target.stat().st_ino != (template / "pkg" / "__init__.py").stat().st_ino
        assert target.stat().st_mtime_ns == (template / "pkg" / "__init__.py").stat().st_mtime_ns
        assert os.access(ws / "run.sh", os.X_OK)
        assert (ws / "link").is_symlink()
        with target.open("w") as fh:  # writes through an open file: hard links would leak
            fh.write("VALUE = 2\n")
        assert (template / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"
    assert not ws.exists()
    assert not ws.parent.exists()


def test_copy_is_removed_on_error_and_on_ctrl_c(bwrap: BwrapSandbox, template: Path) -> None:
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        seen: list[Path] = []

        def use(error: BaseException = exc, seen: list[Path] = seen) -> None:
            with bwrap.workspace(template) as ws:
                seen.append(ws)
                raise error

        with pytest.raises(type(exc)):
            use()
        assert not seen[0].parent.exists()


def test_runs_do_not_write_bytecode_into_the_host_copy(bwrap: BwrapSandbox, template: Path) -> None:
    with bwrap.workspace(template) as ws:
        result = bwrap.run([PY, "-c", "import pkg; print(pkg.VALUE)"], ws, limits=Limits(wall_s=30))
        assert result.stdout.strip() == "1", result.stderr
        assert list((ws / "pkg" / "__pycache__").iterdir()) == []


def test_missing_template_is_infrastructure(bwrap: BwrapSandbox, tmp_path: Path) -> None:
    with (
        pytest.raises(InfrastructureError, match="not a directory"),
        bwrap.workspace(tmp_path / "nope"),
    ):
        pass


def test_missing_command_is_reported_as_such(bwrap: BwrapSandbox, template: Path) -> None:
    with bwrap.workspace(template) as ws:
        result = bwrap.run(["no-such-command-xyz"], ws, limits=Limits(wall_s=30))
    assert result.exit_code is None
    assert result.error == "command not found: no-such-command-xyz"


def test_a_sandbox_that_cannot_be_set_up_is_infrastructure(
    bwrap: BwrapSandbox, template: Path
) -> None:
    fake = bwrap.root / "fake-bwrap"  # reachable by the unprivileged uid the sandbox runs as
    fake.write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed' >&2\nexit 1\n")
    fake.chmod(0o755)
    broken = BwrapSandbox(bwrap=str(fake))
    try:
        with broken.workspace(template) as ws:
            result = broken.run(["true"], ws, limits=Limits(wall_s=30))
    finally:
        broken.close()
    assert result.error is not None
    assert "could not be set up" in result.error
    assert "Creating new namespace failed" in result.error
    assert bwrap_works(str(fake)) is not None


def test_missing_bubblewrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert bwrap_works() == "bubblewrap (bwrap) is not installed"
    with pytest.raises(UsageError, match="bubblewrap"):
        BwrapSandbox()
    with pytest.raises(UsageError, match="bubblewrap"):
        get_sandbox(SandboxSettings(kind="bwrap"))
    with caplog.at_level(logging.WARNING, logger="patchloop.sandbox"):
        sandbox = get_sandbox(SandboxSettings(kind="auto"))
    assert isinstance(sandbox, LocalSandbox)
    assert "bubblewrap (bwrap) is not installed" in caplog.text


def test_auto_picks_bubblewrap_when_it_works(bwrap: BwrapSandbox) -> None:
    sandbox = get_sandbox(SandboxSettings(kind="auto"))
    assert isinstance(sandbox, BwrapSandbox)
    assert isinstance(get_sandbox(SandboxSettings(kind="bwrap")), BwrapSandbox)


def test_scratch_of_dead_processes_is_reaped(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine, gone, foreign = (tmp_path / f"patchloop-bw-{n}" for n in ("mine", "gone", "foreign"))
    for directory in (mine, gone, foreign):
        directory.mkdir()
    claim(mine)
    (gone / ".owner").write_text(f"{dead.pid} 12345\n")
    assert reap_stale(tmp_path, "bw") == 1
    assert mine.exists()
    assert foreign.exists()  # no owner file: not ours to judge
    assert not gone.exists()
