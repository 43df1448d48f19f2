"""The report of an issue text ranked on its own."""

from __future__ import annotations

from pathlib import Path

from patchloop.localize.issue import IssueRanker
from patchloop.localize.issue_report import issue_report


def test_a_text_nothing_matches_says_what_would_help(shapes_retriever):
    ranking = IssueRanker(shapes_retriever.view()).rank("((( zzqq")
    report = issue_report(ranking, Path("/repo"), query="((( zzqq", notes=["earlier"], k=5)
    assert not report.files
    assert report.notes[0] == "earlier"
    assert report.notes[1].startswith("nothing in the repository matches the text")


def test_a_text_that_matches_adds_no_note(shapes_retriever):
    ranking = IssueRanker(shapes_retriever.view()).rank("polygon area")
    report = issue_report(ranking, Path("/repo"), query="polygon area", notes=[], k=5)
    assert report.files
    assert report.notes == ()
