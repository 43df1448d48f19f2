"""Tamper guard: a patch may not change the tests or the configuration that decides they pass.

Protected: test modules (``test_*.py``, ``*_test.py``), everything under a ``tests``/``test``
directory, every ``conftest.py`` (also new ones), pytest/tox/nox configuration files,
``sitecustomize.py``/``usercustomize.py`` and ``*.pth`` files (both run code at interpreter
start), and the test sections of ``setup.cfg`` and ``pyproject.toml``. Other edits to those two
files are allowed; the sections are compared before and after.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from patchloop.domain import FileChange, Patch
from patchloop.errors import GuardError

__all__ = ["check_patch", "is_protected_path", "is_test_path", "protected_reason"]

TEST_DIRS = frozenset({"tests", "test"})
CONFIG_FILES = frozenset(
    {
        "conftest.py",
        "pytest.ini",
        ".pytest.ini",
        "pytest.toml",
        ".pytest.toml",
        "tox.ini",
        "noxfile.py",
        "sitecustomize.py",
        "usercustomize.py",
    }
)
#: ``setup.cfg`` sections that configure test runs (pytest, tox, coverage).
_CFG_SECTION = re.compile(r"^(tool:pytest|pytest|tox(:.*)?|testenv(:.*)?|coverage:.*)$")
#: ``pyproject.toml`` tables under ``[tool]`` that configure test runs.
_TOML_TOOLS = ("pytest", "tox", "coverage")


def _parts(path: str) -> tuple[str, ...]:
    return PurePosixPath(path.replace("\\", "/")).parts


def is_test_path(path: str) -> bool:
    """Whether ``path`` (repository-relative) is test code: a test module, under a ``tests`` or
    ``test`` directory, or a ``conftest.py``."""
    parts = _parts(path)
    if not parts:
        return False
    name = parts[-1].lower()
    if any(p.lower() in TEST_DIRS for p in parts[:-1]):
        return True
    if name == "conftest.py":
        return True
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def is_protected_path(path: str) -> bool:
    """Whether any change to ``path`` is protected (test code or whole test-config files)."""
    parts = _parts(path)
    if not parts:
        return False
    name = parts[-1].lower()
    return is_test_path(path) or name in CONFIG_FILES or name.endswith(".pth")


def _cfg_sections(text: str) -> dict[str, Any] | None:
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return {
        name: dict(parser.items(name)) for name in parser.sections() if _CFG_SECTION.match(name)
    }


def _cfg_raw(text: str) -> list[str]:
    return _raw_sections(text, r"^\[([^\]]+)\]", _CFG_SECTION.match)


def _toml_sections(text: str) -> dict[str, Any] | None:
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        return None
    if not isinstance(tool, dict):
        return {}
    return {name: tool[name] for name in _TOML_TOOLS if name in tool}


def _toml_raw(text: str) -> list[str]:
    return _raw_sections(text, r"^\[\[?\s*([^\]]+?)\s*\]\]?", _toml_match)


def _toml_match(header: str) -> bool:
    return any(header == f"tool.{t}" or header.startswith(f"tool.{t}.") for t in _TOML_TOOLS)


def _raw_sections(text: str, header: str, wanted: Callable[[str], object]) -> list[str]:
    # The lines of each wanted section, as text, for files that do not parse.
    pattern = re.compile(header)
    kept: list[str] = []
    keep = False
    for line in text.splitlines():
        match = pattern.match(line.strip())
        if match:
            keep = bool(wanted(match.group(1).strip()))
        if keep:
            kept.append(line.rstrip())
    return kept


def _sections_changed(
    change: FileChange,
    parse: Callable[[str], dict[str, Any] | None],
    raw: Callable[[str], list[str]],
) -> bool:
    before, after = change.before or "", change.after or ""
    parsed_before, parsed_after = parse(before), parse(after)
    if parsed_before is None or parsed_after is None:
        # One side does not parse: compare the sections' lines instead.
        return raw(before) != raw(after)
    return parsed_before != parsed_after


def protected_reason(change: FileChange) -> str | None:
    """Why ``change`` is not allowed, or ``None`` when it is."""
    name = _parts(change.path)[-1].lower() if _parts(change.path) else ""
    if is_test_path(change.path):
        return "test file" if name != "conftest.py" else "conftest.py"
    if name in {"sitecustomize.py", "usercustomize.py"} or name.endswith(".pth"):
        return "interpreter start-up hook"
    if name in CONFIG_FILES:
        return "test configuration"
    if name == "setup.cfg" and _sections_changed(change, _cfg_sections, _cfg_raw):
        return "test section of setup.cfg"
    if name == "pyproject.toml" and _sections_changed(change, _toml_sections, _toml_raw):
        return "test section of pyproject.toml ([tool.pytest], [tool.tox], [tool.coverage])"
    return None


def check_patch(patch: Patch, *, allow_test_edits: bool) -> None:
    """Raise :class:`GuardError` when ``patch`` changes protected paths and that is not allowed."""
    if allow_test_edits:
        return
    offending = [
        (change.path, reason)
        for change in patch.changes
        if change.before != change.after and (reason := protected_reason(change)) is not None
    ]
    if not offending:
        return
    listed = "\n".join(f"- {path} ({reason})" for path, reason in offending)
    raise GuardError(
        f"patch changes protected test files: {', '.join(p for p, _ in offending)}",
        feedback=(
            "The patch was rejected because it changes files that decide whether the tests "
            f"pass:\n{listed}\n"
            "Tests, conftest.py and test configuration define the expected behaviour and must "
            "stay as they are. Change the code under test instead so that the existing tests "
            "pass."
        ),
    )
