"""Identifier-aware tokens for BM25: ``parseHTTPResponse`` gives the whole word and its parts."""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["STOPWORDS", "tokenize"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

#: English function words that carry no signal in issue text or code comments.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "were",
        "when",
        "which",
        "while",
        "will",
        "with",
    ]
)


@lru_cache(maxsize=200_000)
def _expand(word: str) -> tuple[str, ...]:
    lower = word.lower()
    parts = [p.lower() for p in _PART.findall(word)]
    if len(parts) <= 1:
        return () if lower in STOPWORDS or len(lower) < 2 else (lower,)
    keep = [p for p in parts if len(p) > 1 and p not in STOPWORDS]
    return (lower, *keep)


def tokenize(text: str) -> list[str]:
    """Lower-case tokens of ``text``: every identifier whole, then its snake/camel parts."""
    out: list[str] = []
    for word in _WORD.findall(text):
        out.extend(_expand(word))
    return out
