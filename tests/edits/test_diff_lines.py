"""Line splitting for diffs: only ``\\n`` ends a line, as in git."""

from __future__ import annotations

import pytest

from patchloop.edits.diff import split_lines


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", []),
        ("a", ["a"]),
        ("a\n", ["a\n"]),
        ("a\nb", ["a\n", "b"]),
        ("\n\n", ["\n", "\n"]),
        ("a\x0cb\r\nc\x0bd\u2028e\n", ["a\x0cb\r\n", "c\x0bd\u2028e\n"]),
    ],
)
def test_split_lines(text: str, lines: list[str]) -> None:
    assert split_lines(text) == lines
    assert "".join(split_lines(text)) == text
