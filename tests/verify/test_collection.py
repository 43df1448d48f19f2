from __future__ import annotations

from patchloop.domain import Outcome, TestOutcome, TestReport
from patchloop.verify.collection import collection_errors, describe

SYNTAX = """\
test_x.py:3: in <module>
E     def f(:
E          ^
E   SyntaxError: invalid syntax"""


def test_collection_errors_are_file_level_errors() -> None:
    report = TestReport(
        outcomes=(
            TestOutcome(nodeid="t.py", outcome=Outcome.ERROR, message="collection failure"),
            TestOutcome(nodeid="t.py::a", outcome=Outcome.ERROR),
            TestOutcome(nodeid="u.py", outcome=Outcome.MISSING),
        )
    )
    assert [o.nodeid for o in collection_errors(report)] == ["t.py"]


def test_describe_quotes_the_error_line() -> None:
    outcome = TestOutcome(
        nodeid="test_x.py", outcome=Outcome.ERROR, message="collection failure", details=SYNTAX
    )
    assert describe(outcome) == "SyntaxError: invalid syntax"
    bare = TestOutcome(nodeid="d", outcome=Outcome.ERROR, message="collection failure")
    assert describe(bare) == "collection failure"
