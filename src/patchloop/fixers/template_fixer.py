"""The template fixer: repair templates applied at suspicious lines, best candidates first."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path, PurePosixPath

import libcst as cst

from patchloop.domain import FileChange, Location, Patch, Task
from patchloop.edits.diff import make_patch
from patchloop.fixers._apply import Applied, Applier, Rejected
from patchloop.fixers._rank import line_weights, location_weights
from patchloop.fixers._source import SourceFile, parse_source
from patchloop.fixers._types import Insert, Mutation, Replace, Template
from patchloop.fixers.catalogue import select_templates
from patchloop.repo.text import SourceEncodingError, read_source

__all__ = ["FixerStats", "TemplateFixer", "is_test_path"]

MAX_FILE_BYTES = 2_000_000


def read_editable(task: Task, path: str, root: Path) -> str | None:
    """The text of a Python file under ``root`` that a fixer may change, else ``None`` (not
    Python, outside the tree, a test file the task protects, too large, unreadable)."""
    pure = PurePosixPath(path)
    if pure.suffix != ".py" or pure.is_absolute() or ".." in pure.parts:
        return None
    if is_test_path(path) and not task.allow_test_edits:
        return None
    file = root / pure
    try:
        if not file.is_file() or file.stat().st_size > MAX_FILE_BYTES:
            return None
        # In its declared encoding (PEP 263), line endings as they are.
        return read_source(file)
    except (OSError, SourceEncodingError):
        return None


_NEWLINE = re.compile(r"\r\n|\r|\n")


def is_test_path(path: str) -> bool:
    """Whether ``path`` is a test module or pytest configuration by naming convention."""
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return (
        name == "conftest.py"
        or name.startswith("test_")
        or name.endswith("_test.py")
        or any(p in ("tests", "test") for p in parts[:-1])
    )


@dataclass
class FixerStats:
    """Work counters of the last :meth:`TemplateFixer.candidates` run (for tests and records)."""

    files: int = 0
    """Files parsed."""
    skipped_files: int = 0
    """Locations' files skipped: not Python, missing, a test file, or not parseable."""
    mutations: int = 0
    """Mutations the templates proposed (cheap: no text is produced for them)."""
    applied: int = 0
    """Mutations turned into text and parsed (the expensive step; lazy)."""
    invalid: int = 0
    noops: int = 0
    duplicates: int = 0
    errors: int = 0
    """Templates that failed on a file (their remaining mutations for it are lost)."""
    yielded: int = 0
    per_template: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Entry:
    score: float
    rank: int
    line: int
    seq: int
    file: int
    template: str
    mutation: Mutation


def _edit_node(mutation: Mutation) -> object:
    edit = mutation.edits[0]
    if isinstance(edit, Replace):
        return edit.node
    return edit.anchor if isinstance(edit, Insert) else edit.stmt


def _lines(text: str) -> int:
    """Lines as Python counts them (``\\n``, ``\\r\\n`` or ``\\r``)."""
    ends = len(_NEWLINE.findall(text))
    return ends if text.endswith(("\n", "\r")) else ends + 1


def _guarded(template: Template, src: SourceFile, stats: FixerStats) -> Iterator[Mutation]:
    """The template's mutations; a template that fails on odd code loses only that file."""
    try:
        yield from template.generate(src)
    except (cst.CSTValidationError, ValueError, TypeError, KeyError, IndexError, RecursionError):
        stats.errors += 1


class TemplateFixer:
    """Proposes single-mutation candidates from the repair-template catalogue.

    Candidates are ordered by line weight (location suspiciousness, proximity to a line of
    interest) times template prior times the mutation's own weight, deduplicated by the AST of
    the changed statement, and produced lazily: a mutation is only rendered and parsed when the
    consumer asks for the next candidate. ``pairs`` > 0 adds, after all single mutations, pairs
    of the first ``pairs`` valid single mutations of one file.
    """

    name = "templates"

    def __init__(self, templates: Sequence[str] | None = None, *, pairs: int = 0) -> None:
        self.templates: tuple[Template, ...] = select_templates(templates)
        self.pairs = pairs
        self.stats = FixerStats()

    def candidates(self, task: Task, locations: Sequence[Location], root: Path) -> Iterator[Patch]:
        """Candidate patches against the tree at ``root``, most promising first."""
        return self._run(task, tuple(locations), Path(root))

    # -- loading ---------------------------------------------------------------------------
    def _load(self, task: Task, locations: Sequence[Location], root: Path) -> list[SourceFile]:
        weights = location_weights(locations)
        files: list[SourceFile] = []
        seen: set[str] = set()
        for loc in locations:
            if loc.path in seen:
                continue
            seen.add(loc.path)
            text = self._read(task, loc.path, root)
            if text is None:
                self.stats.skipped_files += 1
                continue
            lw = line_weights(loc.path, locations, weights, _lines(text))
            src = parse_source(loc.path, text, lw.weights)
            if src is None:
                self.stats.skipped_files += 1
                continue
            src.select(lw.weights, lw.ranks)
            files.append(src)
            self.stats.files += 1
        return files

    @staticmethod
    def _read(task: Task, path: str, root: Path) -> str | None:
        text = read_editable(task, path, root)
        if text is None:
            return None
        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            return None
        return text

    # -- ranking ---------------------------------------------------------------------------
    def _plan(self, files: Sequence[SourceFile]) -> list[_Entry]:
        entries: list[_Entry] = []
        seq = 0
        for index, src in enumerate(files):
            ranks = src.ranks
            for template in self.templates:
                for mutation in _guarded(template, src, self.stats):
                    line = mutation.line
                    if line is None:
                        node = _edit_node(mutation)
                        line = src.line(node)  # type: ignore[arg-type]
                        if src.weights.get(line, 0.0) <= 0:
                            line = src.covered_line(node) or line  # type: ignore[arg-type]
                    weight = src.weights.get(line, 0.0)
                    if weight <= 0:
                        continue
                    score = weight * template.prior * mutation.weight
                    entries.append(
                        _Entry(score, ranks.get(line, 0), line, seq, index, template.name, mutation)
                    )
                    seq += 1
        entries.sort(key=lambda e: (-e.score, e.rank, e.line, e.seq))
        self.stats.mutations = len(entries)
        return entries

    # -- candidates ------------------------------------------------------------------------
    def _run(self, task: Task, locations: Sequence[Location], root: Path) -> Iterator[Patch]:
        self.stats = FixerStats()
        files = self._load(task, locations, root)
        appliers = [Applier(src) for src in files]
        seen: set[tuple[str, int, int, str]] = set()
        accepted: list[_Entry] = []
        for group in _ties(self._plan(files)):
            for entry, applied in self._smallest_first(group, appliers):
                patch = self._emit(entry, applied, appliers, seen)
                if patch is not None:
                    if len(accepted) < self.pairs:
                        accepted.append(entry)
                    yield patch
        for a, b in sorted(combinations(accepted, 2), key=lambda p: -p[0].score * p[1].score):
            if a.file != b.file:
                continue
            pair = Mutation(
                edits=a.mutation.edits + b.mutation.edits,
                description=f"{a.mutation.description} + line {b.line} {b.mutation.description}",
            )
            entry = _Entry(a.score * b.score, a.rank, a.line, a.seq, a.file, "pair", pair)
            result = self._apply(entry, appliers)
            patch = self._emit(entry, result, appliers, seen) if result else None
            if patch is not None:
                yield patch

    def _smallest_first(
        self, group: Sequence[_Entry], appliers: Sequence[Applier]
    ) -> list[tuple[_Entry, Applied]]:
        """The group's applicable mutations, the smallest change first (stable otherwise).

        Equally promising alternatives at one place (say ``<`` to ``<=`` or to ``!=``): the
        smaller edit is the likelier fix and the easier diff to review.
        """
        results = [(entry, self._apply(entry, appliers)) for entry in group]
        done = [(entry, applied) for entry, applied in results if applied is not None]
        return sorted(done, key=lambda pair: pair[1].size) if len(done) > 1 else done

    def _apply(self, entry: _Entry, appliers: Sequence[Applier]) -> Applied | None:
        stats = self.stats
        stats.applied += 1
        try:
            result: Applied | Rejected = appliers[entry.file].apply(entry.mutation)
        except (cst.CSTValidationError, ValueError, TypeError, KeyError, IndexError):
            result = Rejected("invalid")
        if isinstance(result, Applied):
            return result
        if result.reason == "noop":
            stats.noops += 1
        else:
            stats.invalid += 1
        return None

    def _emit(
        self,
        entry: _Entry,
        result: Applied,
        appliers: Sequence[Applier],
        seen: set[tuple[str, int, int, str]],
    ) -> Patch | None:
        stats = self.stats
        if result.key in seen:
            stats.duplicates += 1
            return None
        seen.add(result.key)
        src = appliers[entry.file].src
        stats.yielded += 1
        stats.per_template[entry.template] = stats.per_template.get(entry.template, 0) + 1
        label = f"{entry.template}: {src.path}:{entry.line} {entry.mutation.description}"
        return make_patch([FileChange(path=src.path, before=src.text, after=result.text)], label)


def _ties(entries: Sequence[_Entry]) -> Iterator[list[_Entry]]:
    """Runs of planned entries with the same score at the same line of the same file."""
    group: list[_Entry] = []
    for entry in entries:
        if group and (entry.score, entry.file, entry.line) != (
            group[0].score,
            group[0].file,
            group[0].line,
        ):
            yield group
            group = []
        group.append(entry)
    if group:
        yield group
