"""Pytest's long report condensed to the failing statement and the error lines."""

from __future__ import annotations

from patchloop.domain import Frame, Outcome, TestOutcome, TestReport
from patchloop.verify.condense import case_arguments, condense, group_key
from patchloop.verify.feedback import render_failures

RECURSION = """\
input_data = [13, 13], expected = 13

    @pytest.mark.parametrize("input_data,expected", testdata)
    def test_gcd(input_data, expected):
>       assert gcd(*input_data) == expected
               ^^^^^^^^^^^^^^^^

test_gcd.py:19:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _
gcd.py:5: in gcd
    return gcd(a % b, b)
           ^^^^^^^^^^^^^
gcd.py:5: in gcd
    return gcd(a % b, b)
           ^^^^^^^^^^^^^
E   RecursionError: maximum recursion depth exceeded
"""

ASSERTION = """\
    def check(separate):
>       assert separate('(()()) ((()))') == [
            '(()())', '((()))'
        ]
E       AssertionError: assert [] == ['(()())', '((()))']
E
E         Right contains 2 more items, first extra item: '(()())'
E         Use -v to get more diff

test_sep.py:11: AssertionError
"""


def test_condense_keeps_the_statement_and_the_error() -> None:
    assert condense(RECURSION) == (
        ">       assert gcd(*input_data) == expected\n"
        "E   RecursionError: maximum recursion depth exceeded"
    )
    assert case_arguments(RECURSION) == "input_data = [13, 13], expected = 13"


def test_condense_keeps_a_multi_line_statement_and_the_comparison() -> None:
    assert condense(ASSERTION) == (
        ">       assert separate('(()()) ((()))') == [\n"
        "            '(()())', '((()))'\n"
        "        ]\n"
        "E       AssertionError: assert [] == ['(()())', '((()))']\n"
        "E         Right contains 2 more items, first extra item: '(()())'"
    )
    assert case_arguments(ASSERTION) == ""


def test_repeated_lines_are_counted() -> None:
    assert condense("> f()\n> f()\n> f()\nE boom\n") == "> f()  (repeated 3 times)\nE boom"


def test_group_key_drops_the_case_parameters() -> None:
    assert group_key("t.py::test[a-1]", "E: x") == group_key("t.py::test[b-2]", " E: x ")
    assert group_key("t.py::test[a-1]", "E: x") != group_key("t.py::other[a-1]", "E: x")


def test_cases_failing_alike_are_listed_with_their_arguments_only() -> None:
    frame = Frame(path="gcd.py", line=5, function="gcd", in_repo=True)
    outcomes = [
        TestOutcome(
            nodeid=f"test_gcd.py::test_gcd[case{i}]",
            outcome=Outcome.FAILED,
            message="RecursionError: maximum recursion depth exceeded",
            details=RECURSION.replace("[13, 13]", f"[{i}, 1]"),
            frames=(frame,) * 8,
        )
        for i in range(3)
    ]
    text = render_failures(TestReport(outcomes=tuple(outcomes)))
    assert text.count("RecursionError") == 2  # the message and its E line, once
    assert "at gcd.py:5 in gcd (8 times in a row)" in text
    assert (
        "FAILED test_gcd.py::test_gcd[case1]: the same error, with input_data = [1, 1], "
        "expected = 13" in text
    )
    assert "_ _ _" not in text
    assert "^^^" not in text


def test_later_cases_of_a_test_get_one_line_with_their_own_error() -> None:
    outcomes = [
        TestOutcome(
            nodeid=f"t.py::test_f[case{i}]",
            outcome=Outcome.FAILED,
            message=f"assert {i} == {i + 1}",
            details=f"n = {i}\n\n>       assert f(n) == n + 1\nE       assert {i} == {i + 1}\n",
        )
        for i in range(3)
    ]
    text = render_failures(TestReport(outcomes=tuple(outcomes)))
    assert "details:" in text.split("FAILED t.py::test_f[case1]")[0]  # the first in full
    assert "FAILED t.py::test_f[case1]: assert 1 == 2, with n = 1" in text
    assert "FAILED t.py::test_f[case2]: assert 2 == 3, with n = 2" in text
    assert text.count("details:") == 1


def test_pytests_hints_about_hidden_output_are_dropped() -> None:
    details = (
        ">       assert f() == g()\n"
        "E       assert [1, 2] == [1, 3]\n"
        "E         At index 1 diff: 2 != 3\n"
        "E         ...Full output truncated (3 lines hidden), use '-vv' to show\n"
    )
    assert condense(details) == (
        ">       assert f() == g()\n"
        "E       assert [1, 2] == [1, 3]\n"
        "E         At index 1 diff: 2 != 3"
    )


def test_cases_of_a_file_that_failed_to_import_share_one_line() -> None:
    outcomes = [
        TestOutcome(
            nodeid=f"t.py::test_f[case{i}]",
            outcome=Outcome.MISSING,
            message="not run: collecting t.py failed: NameError: name 'obj' is not defined",
        )
        for i in range(6)
    ]
    text = render_failures(TestReport(outcomes=tuple(outcomes)))
    assert text.count("NameError") == 1
    assert "MISSING t.py::test_f[case0]" in text
    assert "MISSING 5 more cases of t.py::test_f: the same error" in text
    assert "case3" not in text
    two = render_failures(TestReport(outcomes=tuple(outcomes[:2])))
    assert "MISSING t.py::test_f[case1]: the same error" in two
