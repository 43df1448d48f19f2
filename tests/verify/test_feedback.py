"""render_failures: trimmed, deterministic feedback from a TestReport."""

from __future__ import annotations

from pathlib import Path

from patchloop.domain import Frame, Outcome, ProcessResult, TestOutcome, TestReport
from patchloop.verify.feedback import head_tail, render_failures


def _outcome(nodeid: str, outcome: Outcome, **kw: object) -> TestOutcome:
    return TestOutcome(nodeid=nodeid, outcome=outcome, **kw)


def _report(*outcomes: TestOutcome, **kw: object) -> TestReport:
    return TestReport(outcomes=outcomes, **kw)


def test_failing_test_with_frames_and_source(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cart.py").write_text("def total(xs):\n    return sum(xs) - 1\n")
    report = _report(
        _outcome("tests/test_cart.py::test_ok", Outcome.PASSED),
        _outcome(
            "tests/test_cart.py::test_total",
            Outcome.FAILED,
            duration_s=1.234,
            message="assert 5 == 6",
            details="def test_total():\n>       assert total([1, 5]) == 6\nE       assert 5 == 6",
            frames=(
                Frame(path="/usr/lib/python3/runpy.py", line=1, function="run", in_repo=False),
                Frame(path="tests/test_cart.py", line=9, function="test_total", in_repo=True),
                Frame(path="src/cart.py", line=2, function="total", in_repo=True),
            ),
        ),
    )
    text = render_failures(report, ["tests/test_cart.py::test_total"], root=tmp_path)
    assert text.startswith("FAILED tests/test_cart.py::test_total\n  assert 5 == 6\n")
    assert "  at src/cart.py:2 in total\n      return sum(xs) - 1\n" in text
    assert "  at tests/test_cart.py:9 in test_total\n" in text  # file absent: no source line
    assert "runpy" not in text
    assert "1.234" not in text
    assert "E       assert 5 == 6" in text
    assert "test_ok" not in text


def test_all_failing_when_no_node_ids_given() -> None:
    report = _report(
        _outcome("a.py::t1", Outcome.FAILED, message="m1"),
        _outcome("a.py::t2", Outcome.SKIPPED, message="skip"),
        _outcome("a.py::t3", Outcome.XFAILED),
        _outcome("a.py::t4", Outcome.ERROR, message="m4"),
        _outcome("a.py::t5", Outcome.TIMEOUT, message="timeout: test ran longer than 30 s"),
    )
    text = render_failures(report)
    assert "FAILED a.py::t1" in text
    assert "ERROR a.py::t4" in text
    assert "TIMEOUT a.py::t5\n  timeout: test ran longer than 30 s" in text
    assert "t2" not in text
    assert "t3" not in text


def test_selected_but_absent_is_missing_and_parents_expand() -> None:
    report = _report(
        _outcome("a.py::t[1]", Outcome.FAILED, message="one"),
        _outcome("a.py::t[2]", Outcome.PASSED),
    )
    text = render_failures(report, ["a.py::t", "a.py::gone"])
    assert "FAILED a.py::t[1]" in text
    assert "a.py::t[2]" not in text
    assert "MISSING a.py::gone" in text


def test_output_is_trimmed_to_max_chars_keeping_head_and_tail() -> None:
    details = "\n".join(f"detail line {i}" for i in range(2000))
    report = _report(
        *(
            _outcome(f"t.py::test_{i}", Outcome.FAILED, message=f"boom {i}", details=details)
            for i in range(3)
        )
    )
    text = render_failures(report, max_chars=3000)
    assert len(text) <= 3000
    for i in range(3):
        assert f"FAILED t.py::test_{i}\n  boom {i}" in text
    assert "detail line 0\n" in text
    assert "detail line 1999" in text
    assert "lines omitted" in text


def test_many_failures_are_counted_not_dropped_silently() -> None:
    report = _report(
        *(_outcome(f"t.py::test_{i:03}", Outcome.FAILED, message="x" * 50) for i in range(100))
    )
    text = render_failures(report, max_chars=2000)
    assert len(text) <= 2000
    assert "FAILED t.py::test_000" in text
    assert "more not passing" in text


def test_no_report_shows_error_and_streams() -> None:
    stderr = "\n".join(f"err {i}" for i in range(5000))
    report = _report(
        status="no_report",
        process=ProcessResult(argv=("pytest",), exit_code=4, stdout="", stderr=stderr),
    )
    text = render_failures(report, ["t.py::a"], max_chars=2000)
    assert text.startswith("The test command produced no test report.\nexit code: 4\nstderr:")
    assert "err 0" in text
    assert "err 4999" in text
    assert "t.py::a" not in text  # nothing is known about it
    assert len(text) <= 2000


def test_command_not_found() -> None:
    report = _report(
        status="no_report",
        process=ProcessResult(argv=("nope",), exit_code=None, error="command not found: nope"),
    )
    assert "error: command not found: nope" in render_failures(report)


def test_timeout_shows_streams_and_tests() -> None:
    report = _report(
        _outcome("t.py::a", Outcome.TIMEOUT, message="the test run hit its wall-clock limit"),
        status="timeout",
        process=ProcessResult(
            argv=("pytest",), exit_code=-9, stdout="collected 1 item\n", killed_by="wall"
        ),
    )
    text = render_failures(report)
    assert "stopped at its wall-clock limit" in text
    assert "collected 1 item" in text
    assert "TIMEOUT t.py::a" in text


def test_deterministic_and_free_of_object_addresses() -> None:
    def make(address: str, duration: float) -> TestReport:
        return _report(
            _outcome(
                "t.py::a",
                Outcome.FAILED,
                duration_s=duration,
                message=f"assert <Foo object at 0x{address}> == 1",
                details=f"x = <Foo object at 0x{address}>",
            )
        )

    first = render_failures(make("7f3a12345678", 0.1))
    second = render_failures(make("7f3a9abcdef0", 2.5))
    assert first == second
    assert "0x7f" not in first


def test_source_lines_never_leave_root(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("TOP SECRET\n")
    root = tmp_path / "repo"
    root.mkdir()
    report = _report(
        _outcome(
            "t.py::a",
            Outcome.FAILED,
            frames=(Frame(path="../secret.txt", line=1, function="f", in_repo=True),),
        )
    )
    assert "TOP SECRET" not in render_failures(report, root=root)


def test_head_tail() -> None:
    assert head_tail("short", 100) == "short"
    text = "\n".join(str(i) for i in range(1000))
    cut = head_tail(text, 200)
    assert len(cut) <= 200
    assert cut.startswith("0\n1\n")
    assert cut.endswith("998\n999")
    assert "lines omitted" in cut
    one_line = head_tail("x" * 1000, 100)
    assert "characters omitted" in one_line
    assert len(one_line) <= 100
