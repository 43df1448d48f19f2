"""A branch rejoins the reply it forked from once it copies it again (``_forks._Rejoin``)."""

from __future__ import annotations

from patchloop.models._forks import _Rejoin

FIRST = (
    "calc.py\n```python\n"
    "def clamp(value, low, high):\n"
    "    if value > high:\n"
    "        return low\n"
    "    return value\n"
    "\n"
    "\n"
    "def add(a, b):\n"
    "    return a + b\n"
    "```\n"
)


def _feed(rejoin: _Rejoin, text: str, piece: int = 3) -> str | None:
    """Feed ``text`` in pieces as a decode loop would; what was fed when it said stop."""
    for i in range(0, len(text), piece):
        if rejoin(text[i : i + piece].encode()):
            return text[: i + piece]
    return None


def test_a_branch_that_copies_two_lines_again_takes_the_rest_of_the_reply() -> None:
    fork = FIRST.index("low\n")  # the branch took "high" where the reply has "low"
    rejoin = _Rejoin(FIRST, fork)
    decoded = _feed(rejoin, "high\n    return value\n\n\ndef")
    # It stops at the piece that completes the copied lines (one newline past them); the
    # reply's rest replaces what was decoded after them.
    assert decoded == "high\n    return value\n\n\n"
    assert rejoin.splice(FIRST[:fork] + decoded) == FIRST.replace("return low", "return high")


def test_blank_lines_or_lines_the_reply_lacks_do_not_rejoin() -> None:
    fork = FIRST.index("low\n")
    assert _feed(_Rejoin(FIRST, fork), "high\n\n\n") is None
    rejoin = _Rejoin(FIRST, fork)
    assert _feed(rejoin, "high\n    return max(value, low)\n    return value\n") is None
    assert rejoin.resume is None


def test_lines_before_the_fork_do_not_count() -> None:
    # The two lines exist in the reply, but only before the fork point.
    fork = FIRST.index("a + b")
    rejoin = _Rejoin(FIRST, fork)
    assert _feed(rejoin, "b - a\n    if value > high:\n        return low\n") is None
