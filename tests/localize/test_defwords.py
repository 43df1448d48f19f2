"""An issue's words against every definition of a few files, through the real code index."""

from __future__ import annotations

import pytest

from patchloop.localize.defwords import definition_words, name_words
from patchloop.localize.issue import IssueRanker


def test_every_definition_of_the_files_is_scored_and_the_best_is_one(shapes_retriever):
    words = definition_words(
        shapes_retriever.view(), ["shapes/geometry.py", "shapes/_kernels.py"], "translated by dx"
    )
    best = max(words.score, key=lambda k: words.score[k])
    assert best == ("shapes/geometry.py", "Polygon.translated")
    assert words.score[best] == pytest.approx(1.0)
    assert words.in_file[best] == pytest.approx(1.0)
    # only the files asked for, and only definitions that use a word of the issue
    assert {path for path, _ in words.score} <= {"shapes/geometry.py"}
    assert ("shapes/geometry.py", "perimeter") not in words.score


def test_a_word_every_definition_uses_counts_less_than_a_rare_one(shapes_retriever):
    view = shapes_retriever.view()
    # ``points`` is in every definition of geometry.py, ``total`` in one only
    words = definition_words(view, ["shapes/geometry.py"], "points total")
    assert words.score[("shapes/geometry.py", "perimeter")] == pytest.approx(1.0)
    assert words.score[("shapes/geometry.py", "area")] < 0.5


def test_in_file_is_relative_to_the_best_definition_of_the_same_file(shapes_retriever):
    words = definition_words(
        shapes_retriever.view(), ["shapes/geometry.py", "shapes/_kernels.py"], "vertices twice dot"
    )
    kernels = {k: v for k, v in words.in_file.items() if k[0] == "shapes/_kernels.py"}
    assert max(kernels.values()) == pytest.approx(1.0)
    assert all(words.in_file[k] >= words.score[k] for k in words.score)


def test_no_words_and_no_files_score_nothing(shapes_retriever):
    view = shapes_retriever.view()
    assert not definition_words(view, [], "translated").score
    assert not definition_words(view, ["shapes/geometry.py"], "").score
    assert not definition_words(view, ["shapes/geometry.py"], "zebra").score


def test_name_words_is_the_share_of_the_names_parts_the_issue_uses():
    words = frozenset({"print", "symbol", "matrix"})
    assert name_words("MathMLPrinter._print_Symbol", words) == 1.0
    assert name_words("_print_MatAdd", words) == pytest.approx(1 / 3)
    assert name_words("matrix", words) == 1.0
    assert name_words("Polygon.scaled", words) == 0.0
    assert name_words("", words) == 0.0


def test_the_ranker_gives_definitions_their_words(shapes_retriever):
    ranking = IssueRanker(shapes_retriever.view()).rank("the perimeter total of a polygon is off")
    by_name = {s.qualname: s for s in ranking.symbols}
    assert by_name["perimeter"].features["words_in_file"] == pytest.approx(1.0)
    assert by_name["perimeter"].features["name_words"] == 1.0
    assert "definition BM25 1.00 of its file's best" in by_name["perimeter"].reasons
