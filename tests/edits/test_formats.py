"""The registry of edit formats and what every format promises: instructions, contract, seam."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import patchloop.edits as edits_pkg
from patchloop.edits import FORMATS, JsonFormat, SearchReplaceFormat, UdiffFormat, get_format
from patchloop.errors import UnknownComponent
from patchloop.protocols import EditFormat
from tests.edits.helpers import git_apply_check, snapshot, write


def test_registry_names_and_default() -> None:
    assert FORMATS.names() == ["json", "search-replace", "udiff"]
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


@pytest.mark.parametrize("name", ["search-replace", "json", "udiff"])
def test_each_format_meets_the_seam(name: str) -> None:
    fmt: EditFormat = get_format(name)
    assert fmt.name == name
    text = fmt.instructions()
    assert text == fmt.instructions()  # byte-stable: it opens the shared prompt prefix
    assert "ORIGINAL" in text
    assert "complete set of edits" in text
    assert "Never edit test files" in text
    assert "{{rules}}" not in text
    contract = fmt.contract()
    assert contract is None or contract.name == name


def example_of(name: str, text: str) -> str:
    example = text.split("Example", 1)[1].split("\n", 1)[1]
    if name == "udiff":
        return re.search(r"```diff\n(.*?)```", example, re.DOTALL).group(1)  # type: ignore[union-attr]
    return example.strip() + "\n"


@pytest.mark.parametrize("name", ["search-replace", "json", "udiff"])
def test_the_example_in_the_instructions_parses(name: str) -> None:
    fmt = get_format(name)
    edits = fmt.parse(example_of(name, fmt.instructions()))
    assert edits
    assert all(e.path.startswith("src/shop/") for e in edits)
    contract = fmt.contract()
    if contract is not None and contract.regex is not None:
        assert re.fullmatch(contract.regex, example_of(name, fmt.instructions()))


@pytest.mark.parametrize("name", ["search-replace", "json", "udiff"])
def test_the_example_applies_to_the_code_it_shows(tmp_path: Path, name: str) -> None:
    write(
        tmp_path,
        "src/shop/cart.py",
        '"""Cart."""\n\n\n\n\n\n\ndef total(items):\n    """Price of everything in the cart."""\n'
        "    return sum(item.price for item in items)\ndef count(items):\n    return len(items)\n",
    )
    write(
        tmp_path,
        "src/shop/discount.py",
        "def apply(price, percent):\n    if percent > 100:\n"
        '        raise ValueError("percent must be at most 100")\n'
        "    return price * (100 - percent) / 100\n",
    )
    fmt = get_format(name)
    before = snapshot(tmp_path)
    patch = fmt.apply(tmp_path, fmt.parse(example_of(name, fmt.instructions())))
    assert snapshot(tmp_path) == before
    assert "item.price * item.quantity" in patch.diff
    assert patch.label == name


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
