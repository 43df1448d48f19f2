"""SEARCH/REPLACE blocks: parsing what models really write, and rejecting what is broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.domain import Edit
from patchloop.edits import SearchReplaceFormat, parse_search_replace
from patchloop.errors import ParseError
from tests.edits.helpers import git_apply_check, snapshot

BLOCK = """\
shop/cart.py
<<<<<<< SEARCH
def total(items):
    return sum(item.price for item in items)
=======
def total(items):
    return sum(item.price * item.qty for item in items)
>>>>>>> REPLACE
"""
SEARCH = "def total(items):\n    return sum(item.price for item in items)\n"
REPLACE = "def total(items):\n    return sum(item.price * item.qty for item in items)\n"


def test_one_block() -> None:
    assert parse_search_replace(BLOCK) == [
        Edit(path="shop/cart.py", search=SEARCH, replace=REPLACE)
    ]


def test_several_blocks_and_files_in_order() -> None:
    reply = (
        "I will fix both.\n\n"
        + BLOCK
        + "\nAnd the count:\n\nshop/cart.py\n<<<<<<< SEARCH\n    return len(items)\n=======\n"
        "    return len(list(items))\n>>>>>>> REPLACE\n\n"
        "shop/new.py\n<<<<<<< SEARCH\n=======\nX = 1\n>>>>>>> REPLACE\n"
    )
    edits = parse_search_replace(reply)
    assert [e.path for e in edits] == ["shop/cart.py", "shop/cart.py", "shop/new.py"]
    assert edits[1].search == "    return len(items)\n"
    assert edits[2] == Edit(path="shop/new.py", search="", replace="X = 1\n")


@pytest.mark.parametrize(
    "reply",
    [
        # aider's style: path, then a fence around the block
        "shop/cart.py\n```python\n" + BLOCK.split("\n", 1)[1] + "```\n",
        # path inside the fence
        "```python\n" + BLOCK + "```\n",
        # path in the fence's info string
        "```python shop/cart.py\n" + BLOCK.split("\n", 1)[1] + "```\n",
        "```shop/cart.py\n" + BLOCK.split("\n", 1)[1] + "```\n",
        # decorated path lines
        "`shop/cart.py`\n" + BLOCK.split("\n", 1)[1],
        "**shop/cart.py**\n" + BLOCK.split("\n", 1)[1],
        "# shop/cart.py\n" + BLOCK.split("\n", 1)[1],
        "### `shop/cart.py`:\n" + BLOCK.split("\n", 1)[1],
        "File: shop/cart.py\n" + BLOCK.split("\n", 1)[1],
        "**File: `shop/cart.py`**\n\n" + BLOCK.split("\n", 1)[1],
        "shop/cart.py:\n" + BLOCK.split("\n", 1)[1],
        # path named in prose right before
        "Change `shop/cart.py` like this:\n" + BLOCK.split("\n", 1)[1],
        # CRLF line endings
        BLOCK.replace("\n", "\r\n"),
        # sloppy markers
        BLOCK.replace("<<<<<<< SEARCH", "<<<<<<<SEARCH  ").replace(
            ">>>>>>> REPLACE", ">>>>>>>> REPLACE"
        ),
    ],
)
def test_tolerated_variants(reply: str) -> None:
    assert parse_search_replace(reply) == [
        Edit(path="shop/cart.py", search=SEARCH, replace=REPLACE)
    ]


def test_block_without_path_reuses_the_previous_path() -> None:
    reply = BLOCK + "\nAlso:\n\n```\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n"
    edits = parse_search_replace(reply)
    assert [e.path for e in edits] == ["shop/cart.py", "shop/cart.py"]


def test_content_that_looks_like_fences_and_prose_is_kept() -> None:
    reply = (
        "README.md\n<<<<<<< SEARCH\n```python\nx = 1\n```\n=======\n"
        "```python\nx = 2\n```\n>>>>>>> REPLACE\n"
    )
    (edit,) = parse_search_replace(reply)
    assert edit.search == "```python\nx = 1\n```\n"
    assert edit.replace == "```python\nx = 2\n```\n"


def test_divider_inside_replace_is_content() -> None:
    reply = "docs/a.rst\n<<<<<<< SEARCH\nTitle\n=======\nTitle\n=======\n>>>>>>> REPLACE\n"
    (edit,) = parse_search_replace(reply)
    assert edit.search == "Title\n"
    assert edit.replace == "Title\n=======\n"


def assert_parse_error(reply: str, *expected: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_search_replace(reply)
    feedback = info.value.feedback
    for text in expected:
        assert text in feedback
    # Every feedback restates the exact format.
    assert "<<<<<<< SEARCH\nlines copied exactly from the original file\n=======" in feedback
    assert "Send the complete set of edits again." in feedback
    return info.value


def test_no_blocks() -> None:
    assert_parse_error("I think the bug is in total().", "contains no SEARCH/REPLACE block")
    assert_parse_error("", "contains no SEARCH/REPLACE block")


def test_missing_divider() -> None:
    reply = "a.py\n<<<<<<< SEARCH\nold\nnew\n>>>>>>> REPLACE\n"
    assert_parse_error(
        reply, "block 1 (a.py) has no '=======' line", "Line 5 of your reply: '>>>>>>> REPLACE'"
    )


def test_missing_replace_marker_before_next_block() -> None:
    reply = (
        "a.py\n<<<<<<< SEARCH\nold\n=======\nnew\n\n"
        "b.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"
    )
    assert_parse_error(reply, "block 1 (a.py) has no '>>>>>>> REPLACE' line", "Line 8")


def test_truncated_reply() -> None:
    assert_parse_error("a.py\n<<<<<<< SEARCH\nold\n=======\nnew", "is not closed", "Line 2")
    assert_parse_error("a.py\n<<<<<<< SEARCH\nold", "ends before its '=======' line")


def test_replace_marker_without_search() -> None:
    assert_parse_error(
        "a.py\nold\n=======\nnew\n>>>>>>> REPLACE\n", "without a '<<<<<<< SEARCH' line", "Line 5"
    )


def test_first_block_without_path() -> None:
    error = assert_parse_error(
        "<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n", "block 1 has no file path"
    )
    assert str(error).startswith("search/replace:")
    assert_parse_error(
        "Here is my fix:\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n", "no file path"
    )


def test_parse_does_no_io(tmp_path: Path) -> None:
    # Paths are taken as written; existence and safety are checked when applying.
    edits = parse_search_replace(
        "../../etc/passwd\n<<<<<<< SEARCH\nroot\n=======\nx\n>>>>>>> REPLACE\n"
    )
    assert edits[0].path == "../../etc/passwd"


def test_format_applies_blocks(repo: Path) -> None:
    fmt = SearchReplaceFormat()
    before = snapshot(repo)
    edits = fmt.parse(BLOCK)
    patch = fmt.apply(repo, edits)
    assert snapshot(repo) == before
    assert patch.label == "search-replace"
    assert git_apply_check(repo, patch.diff).returncode == 0
    fmt.apply(repo, edits, dry_run=False)
    assert "item.price * item.qty" in (repo / "shop/cart.py").read_text()


def test_format_applies_a_block_with_wrong_indentation(repo: Path) -> None:
    reply = (
        "shop/cart.py\n<<<<<<< SEARCH\ndef add(self, item):\n    self.items.append(item)\n"
        "=======\ndef add(self, item):\n    self.items.insert(0, item)\n>>>>>>> REPLACE\n"
    )
    fmt = SearchReplaceFormat()
    patch = fmt.apply(repo, fmt.parse(reply))
    assert "+        self.items.insert(0, item)" in patch.diff
