"""One ``typing.Protocol`` per seam. The repair loop imports these, never a concrete backend.

Implementations live in sibling subpackages and are registered by short name
(see :mod:`patchloop.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

from patchloop.domain import (
    Capabilities,
    Completion,
    CompletionRequest,
    Edit,
    EditScope,
    Event,
    Hit,
    Limits,
    Location,
    OutputContract,
    Patch,
    Plan,
    ProcessResult,
    Sampling,
    Task,
    TestReport,
    TestSelection,
)

__all__ = [
    "BatchSampler",
    "EditFormat",
    "EventSink",
    "Fixer",
    "Localizer",
    "Model",
    "Retriever",
    "Router",
    "Sandbox",
    "TestRunner",
]

#: What :func:`patchloop.repair` calls with every event of a run (progress, a service's stream).
EventSink = Callable[[Event], None]


class Model(Protocol):
    """A language model backend."""

    @property
    def name(self) -> str:
        """The spec the model was built from, for records and progress."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What the backend can do (constrained output, adapters, cache reporting)."""
        ...

    def complete(self, request: CompletionRequest) -> Completion:
        """Return one completion; raise a :class:`~patchloop.errors.ModelError` on failure."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer, or a documented estimate."""
        ...


@runtime_checkable
class BatchSampler(Protocol):
    """Optional for models: several samples of one request in one call, the prompt shared
    (one evaluation in an embedded engine, ``n`` choices on a server)."""

    def complete_many(
        self, request: CompletionRequest, samplings: Sequence[Sampling]
    ) -> list[Completion]:
        """One completion per sampling, in order; the request's own sampling is ignored."""
        ...


class Retriever(Protocol):
    """Search over code chunks of a snapshot."""

    def search(self, query: str, k: int = 10, ref: str | None = None) -> list[Hit]:
        """Best ``k`` chunks for ``query``, best first."""
        ...


class EditFormat(Protocol):
    """One output contract for edits: instructions, parsing and constraint."""

    name: str

    def instructions(self) -> str:
        """Text for the system prompt that teaches the model the format."""
        ...

    def contract(self, scope: EditScope | None = None) -> OutputContract | None:
        """Schema or grammar to constrain decoding with, when the format has one; with
        ``scope``, admitting only edits within it (its paths, its shown lines, its count)."""
        ...

    def parse(self, text: str) -> list[Edit]:
        """Turn a reply into edits. Pure; raises :class:`~patchloop.errors.ParseError`."""
        ...

    def apply(self, root: Path, edits: Sequence[Edit], *, dry_run: bool = True) -> Patch:
        """Apply ``edits`` to the tree at ``root`` (only in memory when ``dry_run``)."""
        ...


class Sandbox(Protocol):
    """Runs commands on throw-away copies of a snapshot, under limits.

    What a sandbox keeps between runs (warm interpreters, scratch directories) is released by
    :meth:`close`; whoever made the sandbox closes it.
    """

    name: str

    def workspace(self, template: Path) -> AbstractContextManager[Path]:
        """A fresh writable copy of ``template``, removed on exit (also on error)."""
        ...

    def run(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        writable: Sequence[Path] = (),
        pass_fds: Sequence[int] = (),
    ) -> ProcessResult:
        """Run ``argv`` in ``workdir``; ``env`` adds to the sandbox's clean environment.

        ``readable`` and ``writable`` name extra host paths the command needs (the reporting
        plugin); everything else outside ``workdir`` is off limits where the sandbox can
        enforce it. ``pass_fds`` are inherited by the command (the report pipe).
        """
        ...

    def close(self) -> None:
        """Stop what the sandbox keeps running (warm interpreters) and remove its scratch
        directories. Idempotent; a closed sandbox starts afresh if it is used again."""
        ...


class TestRunner(Protocol):
    """Runs tests in a workspace and reads per-test outcomes from a machine-readable report."""

    def run(self, workspace: Path, selection: TestSelection) -> TestReport:
        """Run the selected tests and return their outcomes."""
        ...


class Localizer(Protocol):
    """Ranks suspicious code locations for a task."""

    def localize(self, task: Task, baseline: TestReport, root: Path, k: int = 20) -> list[Location]:
        """Best ``k`` locations, most suspicious first."""
        ...


class Fixer(Protocol):
    """Model-free repair: proposes candidate patches at suspicious locations."""

    name: str

    def candidates(self, task: Task, locations: Sequence[Location], root: Path) -> Iterator[Patch]:
        """Candidate patches against the tree at ``root``, most promising first."""
        ...


class Router(Protocol):
    """Plans which tiers and models to spend on a task."""

    def plan(self, task: Task) -> Plan:
        """Ordered tiers with budgets."""
        ...
