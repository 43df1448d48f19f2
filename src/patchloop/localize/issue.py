"""Hierarchical localization from an issue's words: files, then definitions, then lines.

Files are scored by a linear model over features (:data:`FILE_FEATURES`): whole-file and
chunk BM25 of the issue, definitions of the names the issue uses (code blocks weigh more than
prose), dotted modules and file names it writes, traceback frames and quoted messages found
in the code. The best files' definitions are then scored the same way (:data:`SYMBOL_FEATURES`),
and inside the best definitions the lines the clues point at (or that use the issue's names
most) become line ranges. Every hit carries its features and readable reasons.

The weights (:mod:`patchloop.localize.issue_weights`) were fitted on a development set of
issues (see ``bench/localize_train.py``); no rule names a project, file or function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from patchloop.index.languages import language_for
from patchloop.index.tokenize import tokenize
from patchloop.localize._paths import is_test_path
from patchloop.localize.clues import IssueClues, extract_clues
from patchloop.localize.codeview import CodeView, DefinitionLike
from patchloop.localize.defwords import definition_words, name_words
from patchloop.localize.evidence import SOURCE_WEIGHT, Evidence, collect_evidence
from patchloop.localize.issue_weights import FILE_WEIGHTS, SYMBOL_WEIGHTS

__all__ = [
    "FILE_FEATURES",
    "SYMBOL_FEATURES",
    "FileScore",
    "IssueRanker",
    "IssueRanking",
    "LineRange",
    "SymbolScore",
    "is_code",
]

FILE_FEATURES = (
    "bm25_file",
    "bm25_rank",
    "bm25_chunk",
    "bm25_title",
    "names_code",
    "names_title",
    "names_text",
    "qualified",
    "resolved",
    "module",
    "path",
    "frame",
    "frame_last",
    "message",
    "stem",
    "init",
    "minor_language",
    "outside_main",
)
SYMBOL_FEATURES = (
    "file",
    "file_rank",
    "bm25",
    "bm25_rank",
    "named",
    "qualified",
    "resolved",
    "class_named",
    "pointed",
    "is_class",
    "is_module",
    "size",
    "words",
    "words_in_file",
    "name_words",
)
#: Files scored per query (BM25 depth, before evidence adds its own).
FILE_DEPTH = 200
#: Chunks read for the definition level.
CHUNK_DEPTH = 400
#: Files whose definitions are scored.
SYMBOL_FILES = 10


@dataclass(frozen=True)
class FileScore:
    """A ranked file with its features and reasons."""

    path: str
    score: float
    features: Mapping[str, float]
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class SymbolScore:
    """A ranked definition (``qualname == ""``: the file's module-level code)."""

    path: str
    qualname: str
    kind: str
    start: int
    end: int
    score: float
    features: Mapping[str, float]
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineRange:
    """Lines inside a ranked definition (1-based, inclusive) and why."""

    path: str
    start: int
    end: int
    score: float
    symbol: str = ""
    reason: str = ""


@dataclass(frozen=True)
class IssueRanking:
    """The result of :meth:`IssueRanker.rank`."""

    files: tuple[FileScore, ...]
    symbols: tuple[SymbolScore, ...]
    lines: tuple[LineRange, ...]
    clues: IssueClues = field(default_factory=IssueClues)


def is_code(path: str) -> bool:
    """Source code in a language the index parses, not a test: what an issue's fix edits.
    Documentation, data and configuration files are left out of the ranking."""
    return language_for(path) is not None and not is_test_path(path)


def _linear(features: Mapping[str, float], weights: Mapping[str, float]) -> float:
    return sum(weights.get(name, 0.0) * value for name, value in features.items())


class IssueRanker:
    """Ranks the files, definitions and lines of ``view`` for an issue text.

    ``include(path)`` says which files may be ranked (default: :func:`is_code`).
    """

    def __init__(
        self,
        view: CodeView,
        *,
        include: Callable[[str], bool] | None = None,
        file_weights: Mapping[str, float] | None = None,
        symbol_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.view = view
        self.include = include or is_code
        self.file_weights = dict(file_weights or FILE_WEIGHTS)
        self.symbol_weights = dict(symbol_weights or SYMBOL_WEIGHTS)

    # -- files -----------------------------------------------------------------------------

    def file_features(
        self, text: str, clues: IssueClues
    ) -> tuple[dict[str, dict[str, float]], dict[str, Evidence], list[tuple[int, float]]]:
        """Features of every candidate file, the evidence behind them, and the chunk hits."""
        view = self.view
        features: dict[str, dict[str, float]] = {}

        def feats(path: str) -> dict[str, float]:
            return features.setdefault(path, {})

        ranked = [(p, s) for p, s in view.search_files(text, FILE_DEPTH) if self.include(p)]
        top = ranked[0][1] if ranked else 1.0
        for rank, (path, score) in enumerate(ranked, start=1):
            f = feats(path)
            f["bm25_file"] = score / top
            f["bm25_rank"] = 1.0 - math.log(rank) / math.log(FILE_DEPTH + 1)
        if clues.title:
            titled = [(p, s) for p, s in view.search_files(clues.title, 50) if self.include(p)]
            best = titled[0][1] if titled else 1.0
            for path, score in titled:
                feats(path)["bm25_title"] = score / best
        chunks = [(s, v) for s, v in view.search_chunks(text, CHUNK_DEPTH) if self.include(s.path)]
        chunk_top = chunks[0][1] if chunks else 1.0
        for span, score in chunks:
            f = feats(span.path)
            f["bm25_chunk"] = max(f.get("bm25_chunk", 0.0), score / chunk_top)
        evidence = {p: e for p, e in collect_evidence(clues, view).items() if self.include(p)}
        for path, ev in evidence.items():
            f = feats(path)
            for name, value in ev.features.items():
                f[name] = 1.0 - math.exp(-2.0 * value) if name.startswith("names") else value
        layout = _Layout(view.paths, self.include)
        for path, f in features.items():
            if path.endswith("__init__.py"):
                f["init"] = 1.0
            if layout.minor_language(path):
                f["minor_language"] = 1.0
            if layout.outside_main(path):
                f["outside_main"] = 1.0
        return features, evidence, [(s.row, v / chunk_top) for s, v in chunks]

    # -- ranking ---------------------------------------------------------------------------

    def rank(
        self, text: str, *, files: int = 10, symbols: int = 10, lines: int = 10
    ) -> IssueRanking:
        """Files, definitions and line ranges for ``text``, best first."""
        clues = extract_clues(text)
        features, evidence, chunk_hits = self.file_features(text, clues)
        scored = sorted(
            (
                (_linear(f, self.file_weights), path)
                for path, f in features.items()
                if self.include(path)
            ),
            key=lambda item: (-item[0], item[1]),
        )
        file_scores = tuple(
            FileScore(
                path,
                round(score, 6),
                features[path],
                tuple(evidence[path].reasons if path in evidence else ())
                + _lexical(features[path]),
            )
            for score, path in scored[: max(files, SYMBOL_FILES)]
        )
        symbol_scores = self.rank_symbols(file_scores[:SYMBOL_FILES], evidence, chunk_hits, text)
        line_ranges = self.rank_lines(symbol_scores[:lines], evidence, clues)
        return IssueRanking(file_scores[:files], symbol_scores[:symbols], line_ranges, clues)

    def symbol_features(
        self,
        files: Sequence[FileScore],
        evidence: Mapping[str, Evidence],
        chunk_hits: Sequence[tuple[int, float]],
        text: str = "",
    ) -> list[tuple[DefinitionLike | None, str, dict[str, float]]]:
        """Candidate definitions of ``files`` (``None``: module level) with their features;
        ``text`` is the issue (its words against each definition's)."""
        view = self.view
        wanted = {f.path for f in files}
        best_chunk, chunk_rank = _chunks_by_definition(view, wanted, chunk_hits)
        top = files[0].score if files else 0.0
        words = definition_words(view, [f.path for f in files], text)
        issue_words = set(tokenize(text))
        out: list[tuple[DefinitionLike | None, str, dict[str, float]]] = []
        symbols = view.symbols
        by_file: dict[str, list[DefinitionLike]] = {}
        for (path, _), definition in symbols.items():
            if path in wanted:
                by_file.setdefault(path, []).append(definition)
        for file_rank, file in enumerate(files, start=1):
            ev = evidence.get(file.path)
            named = ev.symbols if ev else {}
            pointed = [line for line, _ in ev.lines] if ev else []
            base = {"file": math.exp(min(file.score - top, 0.0)), "file_rank": 1.0 / file_rank}
            for d in [None, *by_file.get(file.path, [])]:
                qual = d.qualname if d else ""
                f = dict(base)
                key = (file.path, qual)
                if key in best_chunk:
                    f["bm25"] = best_chunk[key]
                    f["bm25_rank"] = 1.0 - math.log(chunk_rank[key]) / math.log(CHUNK_DEPTH + 1)
                if qual in named:
                    f["named"] = min(named[qual].get("named", 0.0), 1.0)
                    if "qualified" in named[qual]:
                        f["qualified"] = 1.0
                    if "resolved" in named[qual]:
                        f["resolved"] = 1.0
                parent = qual.rpartition(".")[0]
                if parent and parent in named:
                    f["class_named"] = 1.0
                if key in words.score:
                    f["words"] = words.score[key]
                    f["words_in_file"] = words.in_file[key]
                if share := name_words(qual, issue_words):
                    f["name_words"] = share
                if d is None:
                    f["is_module"] = 1.0
                else:
                    if d.kind == "class":
                        f["is_class"] = 1.0
                    f["size"] = min(1.0, math.log(d.end - d.start + 2) / math.log(300))
                    if any(d.start <= line <= d.end for line in pointed) and not _has_inner(
                        d, pointed, by_file.get(file.path, [])
                    ):
                        f["pointed"] = 1.0
                out.append((d, file.path, f))
        return out

    def rank_symbols(
        self,
        files: Sequence[FileScore],
        evidence: Mapping[str, Evidence],
        chunk_hits: Sequence[tuple[int, float]],
        text: str = "",
    ) -> tuple[SymbolScore, ...]:
        """Definitions of the best files, best first."""
        scored = []
        for d, path, f in self.symbol_features(files, evidence, chunk_hits, text):
            score = _linear(f, self.symbol_weights)
            reasons = _symbol_reasons(d.qualname if d else "", f)
            if d is None:
                lines = max((s.end for s in self.view.spans_of(path)), default=1)
                scored.append(SymbolScore(path, "", "module", 1, lines, score, f, reasons))
            else:
                scored.append(
                    SymbolScore(path, d.qualname, d.kind, d.start, d.end, score, f, reasons)
                )
        scored.sort(key=lambda s: (-s.score, s.path, s.start))
        return tuple(
            SymbolScore(
                s.path, s.qualname, s.kind, s.start, s.end, round(s.score, 6), s.features, s.reasons
            )
            for s in scored
        )

    # -- lines -----------------------------------------------------------------------------

    def rank_lines(
        self, symbols: Sequence[SymbolScore], evidence: Mapping[str, Evidence], clues: IssueClues
    ) -> tuple[LineRange, ...]:
        """One line range per definition: where a clue points, else the densest use of the
        issue's names and words (at most :data:`WINDOW` lines)."""
        terms = _terms(clues)
        out: list[LineRange] = []
        for sym in symbols:
            ev = evidence.get(sym.path)
            pointed = [
                (line, why)
                for line, why in (ev.lines if ev else [])
                if sym.start <= line <= sym.end
            ]
            if pointed:
                line, why = pointed[0]
                start, end = max(sym.start, line - 2), min(sym.end, line + 2)
                out.append(LineRange(sym.path, start, end, sym.score, sym.qualname, why))
                continue
            text = self.view.read_text(sym.path)
            if text is None:
                out.append(LineRange(sym.path, sym.start, sym.end, sym.score, sym.qualname))
                continue
            body = text.split("\n")[sym.start - 1 : sym.end]
            start, end, words = _best_window(body, terms)
            why = "uses " + ", ".join(f"`{w}`" for w in words[:4]) if words else "definition"
            out.append(
                LineRange(
                    sym.path, sym.start + start, sym.start + end, sym.score, sym.qualname, why
                )
            )
        return tuple(out)


def _chunks_by_definition(
    view: CodeView, paths: set[str], chunk_hits: Sequence[tuple[int, float]]
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], int]]:
    """The best chunk score and the first rank among ``chunk_hits`` of each definition of
    ``paths`` (``(path, "")``: module-level code)."""
    best: dict[tuple[str, str], float] = {}
    rank: dict[tuple[str, str], int] = {}
    spans = {s.row: s for path in paths for s in view.spans_of(path)}
    for n, (row, score) in enumerate(chunk_hits, start=1):
        span = spans.get(row)
        if span is None:
            continue
        key = (span.path, span.symbol if span.kind not in ("module", "window") else "")
        best[key] = max(best.get(key, 0.0), score)
        rank.setdefault(key, n)
    return best, rank


class _Layout:
    """What most of a repository's rankable files are: their language and top directory."""

    def __init__(self, paths: Sequence[str], include: Callable[[str], bool]) -> None:
        suffixes: dict[str, int] = {}
        tops: dict[str, int] = {}
        for path in paths:
            if include(path):
                suffix = path.rpartition(".")[2]
                suffixes[suffix] = suffixes.get(suffix, 0) + 1
                top = path.partition("/")[0] if "/" in path else ""
                tops[top] = tops.get(top, 0) + 1
        self.language = max(suffixes, key=lambda s: suffixes[s], default="")
        self.main = max(tops, key=lambda t: tops[t], default="")

    def minor_language(self, path: str) -> bool:
        return path.rpartition(".")[2] != self.language

    def outside_main(self, path: str) -> bool:
        return (path.partition("/")[0] if "/" in path else "") != self.main


#: Lines of a window inside a definition.
WINDOW = 12
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _terms(clues: IssueClues) -> dict[str, float]:
    terms: dict[str, float] = {}
    for name in clues.names:
        leaf = name.text.rpartition(".")[2]
        terms[leaf] = max(terms.get(leaf, 0.0), SOURCE_WEIGHT[name.source])
    for token in tokenize(clues.title):
        terms.setdefault(token, 0.3)
    return terms


def _best_window(body: Sequence[str], terms: Mapping[str, float]) -> tuple[int, int, list[str]]:
    """``(first, last, words)``: 0-based offsets of the window that uses the most terms."""
    if not body:
        return 0, 0, []
    per_line = []
    for line in body:
        words = {w for w in _IDENT.findall(line)} | {t for t in tokenize(line)}
        per_line.append({w for w in words if w in terms})
    best = (0.0, 0, min(len(body), WINDOW) - 1)
    for first in range(len(body)):
        last = min(len(body), first + WINDOW) - 1
        used = set().union(*per_line[first : last + 1])
        value = sum(terms[w] for w in used)
        if value > best[0]:
            best = (value, first, last)
    _, first, last = best
    used_words = sorted(set().union(*per_line[first : last + 1]), key=lambda w: (-terms[w], w))
    while last > first and not per_line[last] and not body[last].strip():
        last -= 1
    return first, last, used_words


def _has_inner(d: DefinitionLike, lines: Sequence[int], defs: Sequence[DefinitionLike]) -> bool:
    """Whether a definition nested in ``d`` holds every pointed line inside ``d``."""
    inside = [line for line in lines if d.start <= line <= d.end]
    inner = [o for o in defs if o.qualname.startswith(d.qualname + ".") and o.kind != "class"]
    return bool(inner) and all(any(o.start <= line <= o.end for o in inner) for line in inside)


def _lexical(features: Mapping[str, float]) -> tuple[str, ...]:
    out = []
    if features.get("bm25_file", 0.0) > 0:
        out.append(f"whole-file BM25 {features['bm25_file']:.2f} of the best")
    if features.get("bm25_title", 0.0) > 0.5:
        out.append("matches the title")
    return tuple(out)


def _symbol_reasons(qualname: str, f: Mapping[str, float]) -> tuple[str, ...]:
    out = []
    if f.get("qualified"):
        out.append(f"`{qualname}` is written in the issue")
    elif f.get("named"):
        out.append(f"`{qualname.rpartition('.')[2]}` is named in the issue")
    if f.get("class_named"):
        out.append(f"its class `{qualname.rpartition('.')[0]}` is named in the issue")
    if f.get("pointed"):
        out.append("a traceback frame or quoted message points into it")
    if f.get("bm25"):
        out.append(f"chunk BM25 {f['bm25']:.2f} of the best")
    if f.get("words_in_file"):
        out.append(f"definition BM25 {f['words_in_file']:.2f} of its file's best")
    if f.get("name_words") and not f.get("named"):
        out.append(f"{f['name_words']:.0%} of its name's words are in the issue")
    return tuple(out)
