"""The words of a few files' definitions against an issue: which definition it talks about.

The chunk BM25 that ranks files scores the whole repository's chunks and keeps the best few
hundred, so most definitions of a well-ranked file get no lexical signal at all. Here every
definition of the candidate files is a document (its chunks' text and its name) and the issue
is scored against them alone, so the inverse document frequencies are those of these files:
a word every definition uses counts for little, a word only one uses counts for much.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from patchloop.index.tokenize import tokenize
from patchloop.localize.codeview import CodeView

__all__ = ["DefinitionWords", "definition_words", "name_words"]

#: BM25's term-frequency saturation and length normalisation.
K1 = 1.2
B = 0.75

Key = tuple[str, str]


@dataclass(frozen=True)
class DefinitionWords:
    """Per ``(path, qualname)`` (``""``: module level): the issue's BM25 against the
    definition as a fraction of the best definition of all files (``score``) and of the best
    of its own file (``in_file``)."""

    score: Mapping[Key, float]
    in_file: Mapping[Key, float]


def definition_words(view: CodeView, paths: Sequence[str], text: str) -> DefinitionWords:
    """Score ``text`` against every definition of ``paths`` (see the module docstring)."""
    docs: dict[Key, dict[str, int]] = {}
    for path in paths:
        spans = view.spans_of(path)
        texts = view.texts([s.row for s in spans])
        for span in spans:
            qual = span.symbol if span.kind not in ("module", "window") else ""
            doc = docs.get((path, qual))
            if doc is None:
                doc = docs[(path, qual)] = {}
                _count(doc, tokenize(qual))
            _count(doc, tokenize(texts.get(span.row, "")))
    scores = _bm25(set(tokenize(text)), docs)
    best = max(scores.values(), default=0.0)
    file_best: dict[str, float] = {}
    for (path, _), value in scores.items():
        file_best[path] = max(file_best.get(path, 0.0), value)
    return DefinitionWords(
        {k: v / best for k, v in scores.items() if v > 0},
        {k: v / file_best[k[0]] for k, v in scores.items() if v > 0},
    )


def name_words(qualname: str, words: AbstractSet[str]) -> float:
    """The share of the parts of a definition's own name (``_print_Symbol``: print,
    symbol) that ``words`` holds; 0 for module level."""
    leaf = qualname.rpartition(".")[2]
    if not leaf:
        return 0.0
    tokens = tokenize(leaf)
    parts = tokens[1:] or tokens
    if not parts:
        return 0.0
    return sum(1 for p in parts if p in words) / len(parts)


def _count(doc: dict[str, int], tokens: Iterable[str]) -> None:
    for token in tokens:
        doc[token] = doc.get(token, 0) + 1


def _bm25(query: set[str], docs: Mapping[Key, Mapping[str, int]]) -> dict[Key, float]:
    if not docs or not query:
        return {}
    n = len(docs)
    df: dict[str, int] = {}
    for doc in docs.values():
        for t in query:
            if t in doc:
                df[t] = df.get(t, 0) + 1
    idf = {t: math.log(1.0 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    mean = sum(sum(d.values()) for d in docs.values()) / n or 1.0
    out = {}
    for key, doc in docs.items():
        length = sum(doc.values())
        norm = K1 * (1.0 - B + B * length / mean)
        out[key] = sum(idf[t] * doc[t] * (K1 + 1) / (doc[t] + norm) for t in idf if t in doc)
    return out
