"""HeadTail keeps the head and the tail of a stream within its cap."""

from __future__ import annotations

from patchloop.sandbox._capture import HeadTail


def test_under_the_cap_everything_is_kept() -> None:
    buf = HeadTail(10)
    buf.feed(b"abc")
    buf.feed(b"defghij")
    assert not buf.over
    assert buf.dropped == 0
    assert buf.text() == "abcdefghij"


def test_over_the_cap_head_and_tail_are_kept() -> None:
    buf = HeadTail(10)
    for chunk in (b"01234", b"56789", b"abcdefghij", b"KLMNO"):
        buf.feed(chunk)
    assert buf.over
    assert buf.total == 25
    assert buf.dropped == 15
    assert buf.text() == "01234\n[... 15 bytes of output dropped ...]\nKLMNO"


def test_multibyte_characters_split_by_the_cut_are_replaced() -> None:
    buf = HeadTail(4)
    buf.feed("ééé".encode())
    assert buf.text().startswith("é")
    assert "dropped" in buf.text()
