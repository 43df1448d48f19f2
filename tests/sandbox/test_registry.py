"""Choosing a sandbox from settings, and limits from settings."""

from __future__ import annotations

import logging

import pytest

from patchloop.config import SandboxSettings, TestSettings
from patchloop.errors import UnknownComponent
from patchloop.sandbox import SANDBOXES, get_sandbox, limits_from_settings
from patchloop.sandbox.local import LocalSandbox


def test_local_by_name() -> None:
    assert isinstance(get_sandbox(SandboxSettings(kind="local")), LocalSandbox)


def test_auto_falls_back_to_local_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="patchloop.sandbox"):
        sandbox = get_sandbox(SandboxSettings(kind="auto"))
    assert "bwrap" not in SANDBOXES.names() or sandbox.name == "bwrap"
    if sandbox.name == "local":
        assert "bubblewrap" in caplog.text


def test_dotted_path() -> None:
    sandbox = get_sandbox(SandboxSettings(kind="patchloop.sandbox.local:LocalSandbox"))
    assert isinstance(sandbox, LocalSandbox)


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(UnknownComponent, match="local"):
        get_sandbox(SandboxSettings(kind="docker"))


def test_limits_from_settings() -> None:
    limits = limits_from_settings(
        TestSettings(timeout=12.5, output_bytes=1000),
        SandboxSettings(memory_mb=256, cpu_s=7, processes=9),
    )
    assert limits.wall_s == 12.5
    assert limits.output_bytes == 1000
    assert limits.memory_bytes == 256 * 1024 * 1024
    assert limits.cpu_s == 7
    assert limits.processes == 9
    assert (
        limits_from_settings(TestSettings(), SandboxSettings(memory_mb=None)).memory_bytes is None
    )


def test_limits_from_settings_wall_override() -> None:
    tests, sandbox = TestSettings(timeout=12.5), SandboxSettings()
    assert limits_from_settings(tests, sandbox, wall_s=3.0).wall_s == 3.0
    assert limits_from_settings(tests, sandbox, wall_s=3.0).model_copy(
        update={"wall_s": 12.5}
    ) == limits_from_settings(tests, sandbox)
