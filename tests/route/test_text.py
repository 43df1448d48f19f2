"""Condensing task texts for the intent model."""

from __future__ import annotations

from patchloop.route.text import MAX_CHARS, condense

TRACEBACK = """The importer crashes on the March file.

Traceback (most recent call last):
  File "etl/load.py", line 130, in <module>
    main()
  File "etl/load.py", line 121, in main
    rows = transform(batch)
  File "etl/transform.py", line 33, in normalize
    r['amount'] = float(r['amount'])
ValueError: could not convert string to float: '1,5'

It worked in February."""


def test_traceback_keeps_header_innermost_frame_and_exception() -> None:
    text = condense(TRACEBACK)
    assert text.startswith("The importer crashes on the March file. Traceback")
    assert 'File "etl/transform.py", line 33, in normalize' in text
    assert "r['amount'] = float(r['amount'])" in text
    assert "ValueError: could not convert string to float: '1,5'" in text
    assert text.endswith("It worked in February.")
    assert "etl/load.py" not in text
    assert "main()" not in text


def test_whitespace_is_collapsed() -> None:
    assert condense("  fix\tthe\r\n\n  failing   test  ") == "fix the failing test"


def test_empty_and_blank_give_empty() -> None:
    assert condense("") == ""
    assert condense(" \n\t") == ""


def test_long_text_keeps_head_and_tail() -> None:
    text = "start " + "filler words " * 200 + "the end"
    short = condense(text)
    assert len(short) == MAX_CHARS
    assert short.startswith("start filler")
    assert short.endswith("the end")
    assert " ... " in short


def test_text_without_traceback_is_unchanged_but_for_spaces() -> None:
    line = "Traceback handling in the logger should include the cause"
    assert condense(line) == line
