"""The registry of edit formats and what every format promises: instructions, contract, seam."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import patchloop.edits as edits_pkg
from patchloop.edits import FORMATS, JsonFormat, SearchReplaceFormat, UdiffFormat, get_format
from patchloop.errors import UnknownComponent
from patchloop.protocols import EditFormat
from tests.edits.helpers import git_apply_check


def test_registry_names_and_default() -> None:
    assert FORMATS.names() == ["json", "search-replace", "udiff", "whole"]
    assert isinstance(get_format(), SearchReplaceFormat)
    assert isinstance(get_format("json"), JsonFormat)
    assert isinstance(get_format("udiff"), UdiffFormat)
    assert isinstance(get_format("patchloop.edits.udiff:UdiffFormat"), UdiffFormat)


def test_unknown_format_lists_valid_names() -> None:
    with pytest.raises(UnknownComponent) as info:
        get_format("whole-file")
    assert "json, search-replace, udiff" in str(info.value)


def test_public_surface_is_exported() -> None:
    for name in edits_pkg.__all__:
        assert hasattr(edits_pkg, name), name


@pytest.mark.parametrize("name", ["search-replace", "json", "udiff", "whole"])
def test_each_format_meets_the_seam(name: str) -> None:
    fmt: EditFormat = get_format(name)
    assert fmt.name == name
    text = fmt.instructions()
    assert text == fmt.instructions()  # byte-stable: it opens the shared prompt prefix
    # Attempts restart from the original files, and the instructions say so.
    assert "ORIGINAL files" in text
    assert "earlier replies were not applied" in text
    assert "{{rules}}" not in text
    contract = fmt.contract()
    assert contract is None or contract.name == name


@pytest.mark.parametrize("name", ["search-replace", "json", "udiff", "whole"])
def test_the_instructions_hold_no_code_to_copy(name: str) -> None:
    # A small model copies examples, placeholders included: the format is told in words.
    text = get_format(name).instructions()
    for word in ("def ", "return", "class ", "import ", "src/", "PATH\n", "LINES"):
        assert word not in text
    assert "shown in this prompt" in text


def test_apply_produces_diffs_git_accepts_for_every_format(repo: Path) -> None:
    replies = {
        "search-replace": (
            "shop/cart.py\n<<<<<<< SEARCH\n    return len(items)\n=======\n"
            "    return 1\n>>>>>>> REPLACE\n"
        ),
        "json": json.dumps(
            {
                "edits": [
                    {
                        "path": "shop/cart.py",
                        "search": "    return len(items)\n",
                        "replace": "    return 1\n",
                    }
                ],
                "run_tests": True,
                "explanation": "x",
            }
        ),
        "udiff": (
            "--- a/shop/cart.py\n+++ b/shop/cart.py\n@@ -9 +9 @@\n"
            "-    return len(items)\n+    return 1\n"
        ),
    }
    diffs = set()
    for name, reply in replies.items():
        fmt = get_format(name)
        patch = fmt.apply(repo, fmt.parse(reply))
        assert git_apply_check(repo, patch.diff).returncode == 0
        diffs.add(patch.diff)
    assert len(diffs) == 1
