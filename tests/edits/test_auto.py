"""``auto``: whole files for small models on short files shown whole, else search/replace."""

from __future__ import annotations

import pytest

from patchloop.domain import ScopeFile
from patchloop.edits.auto import SMALL_MODEL_PARAMETERS, WHOLE_FILE_LINES, resolve_format

SHORT = ScopeFile(path="a.py", text="x = 1\n" * 20)
LONG = ScopeFile(path="b.py", text="x = 1\n" * (WHOLE_FILE_LINES + 1))
EXCERPT = ScopeFile(path="c.py", text="x = 1\n" * 20, spans=((1, 5),))


@pytest.mark.parametrize(
    ("parameters", "files", "chosen"),
    [
        (1_500_000_000, [SHORT], "whole"),
        (SMALL_MODEL_PARAMETERS + 1, [SHORT], "search-replace"),
        (None, [SHORT], "search-replace"),  # a server: size unknown
        (1_500_000_000, [SHORT, LONG], "search-replace"),
        (1_500_000_000, [EXCERPT], "search-replace"),
        (1_500_000_000, [], "search-replace"),
    ],
)
def test_auto_resolves_by_model_size_and_file_length(
    parameters: int | None, files: list[ScopeFile], chosen: str
) -> None:
    assert resolve_format("auto", parameters, files) == chosen


def test_a_named_format_stays() -> None:
    assert resolve_format("udiff", 1, [SHORT]) == "udiff"
