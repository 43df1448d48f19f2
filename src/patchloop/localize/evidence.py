"""Evidence that an issue's clues point at a file or definition, resolved through the index.

Each piece of evidence names a *feature* (what kind of pointer it is), a strength in [0, 1]
and a reason a person can read (``defines `combine_by_coords` (code)``). Names are resolved
to definitions by their unqualified name; a name defined in many files spreads its weight
over them, so ``__init__`` or ``mean`` count little and ``combine_by_coords`` a lot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from patchloop.localize.clues import IssueClues, Message, Name
from patchloop.localize.codeview import CodeView, DefinitionLike
from patchloop.localize.mentions import match_path

__all__ = [
    "Evidence",
    "MessageHit",
    "collect_evidence",
    "find_messages",
    "module_file",
    "module_files",
]

#: How much a name counts by where the issue wrote it.
SOURCE_WEIGHT = {
    "traceback": 1.0,
    "import": 1.0,
    "code": 0.7,
    "inline": 0.8,
    "title": 0.8,
    "prose": 0.5,
}
#: Sources counted apart when the same name is resolved (code, or the words around it).
SOURCE_GROUP = {
    "traceback": "code",
    "import": "code",
    "code": "code",
    "inline": "text",
    "title": "title",
    "prose": "text",
}
#: Names this short or this common say nothing on their own.
_GENERIC = frozenset(
    {"__init__", "__call__", "__repr__", "__str__", "__eq__", "main", "run", "get", "set", "test"}
)
#: The file feature a name feeds, by where the issue wrote it.
_NAME_FEATURE = {
    "traceback": "names_code",
    "import": "names_code",
    "code": "names_code",
    "inline": "names_code",
    "title": "names_title",
    "prose": "names_text",
}
_SPLIT = re.compile(r"""'[^']*'|"[^"]*"|`[^`]*`|<[^>]*>|\b\d[\w.]*\b|[^\w\s'-]+""")


@dataclass
class Evidence:
    """Evidence per file: feature -> strength, and the reasons behind it."""

    features: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    symbols: dict[str, dict[str, float]] = field(default_factory=dict)
    """qualname -> feature -> strength, for definitions the clues name directly."""
    lines: list[tuple[int, str]] = field(default_factory=list)
    """Lines the clues point at (a frame, a message), with the reason."""

    def add(self, feature: str, value: float, reason: str = "", *, cap: float = 1e9) -> None:
        self.features[feature] = min(self.features.get(feature, 0.0) + value, cap)
        if reason and reason not in self.reasons:
            self.reasons.append(reason)

    def add_symbol(self, qualname: str, feature: str, value: float) -> None:
        entry = self.symbols.setdefault(qualname, {})
        entry[feature] = max(entry.get(feature, 0.0), value)


@dataclass(frozen=True)
class MessageHit:
    """A quoted message found verbatim (in part) in a chunk of the index."""

    path: str
    line: int
    coverage: float
    """Share of the message's words the longest matching fragment covers."""
    fragment: str


def collect_evidence(clues: IssueClues, view: CodeView) -> dict[str, Evidence]:
    """Evidence per file from names, modules, paths, frames and messages of ``clues``."""
    out: dict[str, Evidence] = {}

    def ev(path: str) -> Evidence:
        return out.setdefault(path, Evidence())

    paths = view.paths
    definitions = view.definitions
    for name in clues.names:
        _resolve_name(name, definitions, ev)
    _follow_imports(clues, view, ev)
    for dotted, strength in _module_mentions(clues):
        for path in module_files(dotted, paths):
            weight = strength * (0.5 if path.endswith("__init__.py") else 1.0)
            ev(path).add("module", weight, f"module `{dotted}` named", cap=1.0)
    for written in clues.paths:
        rel = match_path(written, paths)
        if rel is not None:
            ev(rel).add("path", 1.0, f"file `{written}` named", cap=1.0)
    for stack in clues.stacks:
        located = [(f, match_path(f.path, paths)) for f in stack]
        inside = [(f, rel) for f, rel in located if rel is not None]
        for depth, (frame, rel) in enumerate(reversed(inside)):
            assert rel is not None
            evidence = ev(rel)
            evidence.add("frame", 1.0 / (1 + depth), f"traceback frame {rel}:{frame.line}", cap=1.0)
            if depth == 0:
                evidence.add("frame_last", 1.0, cap=1.0)
            evidence.lines.append((frame.line, f"traceback frame in `{frame.function}`"))
    for hit in find_messages(clues.messages, view):
        evidence = ev(hit.path)
        reason = f"message \u201c{_short(hit.fragment)}\u201d at line {hit.line}"
        evidence.add("message", hit.coverage, reason, cap=1.0)
        evidence.lines.append((hit.line, reason))
    _stems(clues, paths, ev)
    return out


def _resolve_name(
    name: Name,
    definitions: Mapping[str, Sequence[DefinitionLike]],
    get_ev: Callable[[str], Evidence],
) -> None:
    text = name.text
    parts = text.split(".")
    leaf = parts[-1]
    if leaf in _GENERIC or len(leaf) < 3:
        return
    found: Sequence[DefinitionLike] = definitions.get(leaf, ())
    fuzzy = False
    if not found and len(leaf) >= 6:
        found = definitions.get(leaf.lstrip("_"), ()) or definitions.get("_" + leaf, ())
        fuzzy = True
    if not found:
        return
    weight = SOURCE_WEIGHT[name.source] * (0.5 if fuzzy else 1.0)
    if name.module:
        # ``from a.b import c``: definitions under the module's package first
        inside = [d for d in found if _module_of(d.path).startswith(name.module.split(".")[0])]
        found = inside or found
    files = {d.path for d in found}
    spread = 1.0 / len(files)
    specific = spread * min(1.0, math.log1p(40 / len(files)) / math.log1p(40))
    feature = _NAME_FEATURE[name.source]
    qualified = len(parts) > 1 and parts[-2][:1].isupper()
    counted: set[str] = set()
    for d in found:
        evidence = get_ev(d.path)
        if d.path not in counted:
            counted.add(d.path)
            evidence.add(feature, weight * specific, f"defines `{d.qualname}` ({name.source})")
        evidence.add_symbol(d.qualname, "named", weight)
        if qualified and d.qualname.endswith(".".join(parts[-2:])):
            evidence.add("qualified", 1.0, f"defines `{d.qualname}` as written", cap=1.0)
            evidence.add_symbol(d.qualname, "qualified", 1.0)


def _follow_imports(clues: IssueClues, view: CodeView, ev: Callable[[str], Evidence]) -> None:
    """Dotted names (``xarray.where``, ``from a.b import c``) followed through the package's
    imports to the definition they reach (feature ``resolved``)."""
    from patchloop.localize.reexports import Resolver

    resolver = Resolver(view)
    done: set[tuple[str, str]] = set()
    for name in clues.names:
        dotted = f"{name.module}.{name.text}" if name.module else name.text
        key = (dotted, SOURCE_GROUP[name.source])
        if "." not in dotted or key in done or not dotted.split(".")[0].islower():
            continue
        done.add(key)
        reached = resolver.resolve(dotted)
        if reached is None or not reached.qualname:
            continue
        evidence = ev(reached.path)
        strength = SOURCE_WEIGHT[name.source]
        evidence.add("resolved", strength, f"`{dotted}` is `{reached.qualname}`", cap=1.0)
        evidence.add_symbol(reached.qualname, "resolved", 1.0)
        evidence.add_symbol(reached.qualname, "named", strength)


def module_file(dotted: str, paths: Collection[str]) -> str | None:
    """The file of module ``dotted`` (``a/b.py`` or ``a/b/__init__.py``, at the root or under
    ``src/`` or ``lib/``), ``None`` when the repository has no such module."""
    rel = dotted.replace(".", "/")
    for base in ("", "src/", "lib/"):
        for candidate in (f"{base}{rel}.py", f"{base}{rel}/__init__.py"):
            if candidate in paths:
                return candidate
    return None


def _module_of(path: str) -> str:
    p = PurePosixPath(path)
    parts = [*p.parent.parts, p.stem] if p.stem != "__init__" else list(p.parent.parts)
    if parts and parts[0] in ("src", "lib"):
        parts = parts[1:]
    return ".".join(parts)


def _module_mentions(clues: IssueClues) -> Iterable[tuple[str, float]]:
    for module in clues.modules:
        yield module, 1.0
    for name in clues.names:
        if "." in name.text and name.text.split(".")[0].islower():
            yield name.text, 0.7
        if name.module:
            yield f"{name.module}.{name.text}", 1.0


def module_files(dotted: str, paths: Sequence[str]) -> list[str]:
    """Files of the longest importable prefix of ``dotted`` (``a.b.c`` -> ``a/b.py`` when
    ``c`` is a name in it), at the root or under ``src/`` / ``lib/``. A bare top-level package
    (``import numpy``-style, one component) names no file in particular: none."""
    known = set(paths)
    parts = [p for p in dotted.split(".") if p]
    for cut in range(len(parts), 1, -1):
        found = module_file(".".join(parts[:cut]), known)
        if found is not None:
            return [found]
    return []


def _stems(clues: IssueClues, paths: Sequence[str], ev: Callable[[str], Evidence]) -> None:
    """Files whose name (without extension) is a word of the issue: ``latex`` -> latex.py."""
    words = {w.lower() for w in clues.words for w in w.split(".")}
    title = {w.lower() for w in re.findall(r"\w+", clues.title)}
    by_stem: dict[str, list[str]] = {}
    for path in paths:
        stem = PurePosixPath(path).stem.lower()
        if len(stem) >= 4 and stem != "__init__":
            by_stem.setdefault(stem, []).append(path)
    for stem, files in by_stem.items():
        if stem in words or stem.rstrip("s") in words or stem + "s" in words:
            strength = 1.0 / len(files) * (1.0 if stem in title else 0.6)
            for path in files:
                ev(path).add("stem", strength, f"file name `{stem}` in the issue", cap=1.0)


def find_messages(
    messages: Sequence[Message], view: CodeView, *, depth: int = 20
) -> list[MessageHit]:
    """Where the literal parts of quoted messages occur in the code.

    A message is cut at its variable parts (quoted values, numbers, punctuation); each
    fragment of three words or more is looked for, case-insensitively, in the chunks that
    BM25 ranks first for the message.
    """
    hits: list[MessageHit] = []
    for message in messages[:8]:
        words = len(message.text.split())
        fragments = [f for f in _fragments(message.text) if len(f.split()) >= 3]
        if not fragments:
            continue
        found = view.search_chunks(message.text, depth)
        texts = view.texts([span.row for span, _ in found])
        for span, _ in found:
            body = " ".join(texts.get(span.row, "").lower().split())
            best = max((f for f in fragments if f.lower() in body), key=len, default=None)
            if best is None:
                continue
            line = _line_of(texts.get(span.row, ""), best.split()[0], span.start)
            coverage = min(1.0, len(best.split()) / max(words, 1))
            hits.append(MessageHit(span.path, line, round(coverage, 4), best))
    return hits


def _fragments(text: str) -> list[str]:
    pieces = _SPLIT.split(text)
    return [" ".join(p.split()) for p in pieces if p and p.strip()]


def _line_of(text: str, word: str, start: int) -> int:
    for n, line in enumerate(text.split("\n")):
        if word.lower() in line.lower():
            return start + n
    return start


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
