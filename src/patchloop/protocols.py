"""One ``typing.Protocol`` per seam. The repair loop imports these, never a concrete backend.

Implementations live in sibling subpackages and are registered by short name
(see :mod:`patchloop.registry`). What only some implementations can do is an optional
capability: a small ``runtime_checkable`` protocol of its own, checked with ``isinstance``
(never probed with ``hasattr`` or a signature).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

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

if TYPE_CHECKING:
    from patchloop.localize.codeview import CodeView

__all__ = [
    "AvoidingSampler",
    "BatchSampler",
    "BranchSampler",
    "Closeable",
    "ContextWindow",
    "EditFormat",
    "EventSink",
    "Fixer",
    "IndexedRetriever",
    "Localizer",
    "Model",
    "PassesDescriptors",
    "Retriever",
    "Router",
    "Sandbox",
    "ScoredRetriever",
    "SizedModel",
    "TestRunner",
    "WarmRunner",
    "WarmSandbox",
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


@runtime_checkable
class AvoidingSampler(Protocol):
    """Optional for models: a reply that ``reject`` refuses (one that changes nothing, or
    repeats a failed one) is decoded again from where the model hesitated most, with the
    runner-up token there (embedded engines, which see every token's alternatives)."""

    def complete_avoiding(
        self, request: CompletionRequest, reject: Callable[[str], bool], tries: int
    ) -> Completion:
        """One completion, decoded again at most ``tries`` times while ``reject`` refuses
        its text; the last one when all are refused."""
        ...


@runtime_checkable
class BranchSampler(Protocol):
    """Optional for models: several candidates from one reply, each decoded on from one of
    its least certain tokens with the runner-up there (embedded engines)."""

    def complete_branches(
        self, request: CompletionRequest, count: int, reject: Callable[[str], bool], misses: int
    ) -> list[Completion]:
        """Up to ``count`` completions, the request's own reply first; a branch ``reject``
        refuses is dropped and another fork point tried, ``misses`` times at most."""
        ...


@runtime_checkable
class SizedModel(Protocol):
    """Optional for models: the parameter count is known (embedded models)."""

    @property
    def parameters(self) -> int:
        """Parameters of the model."""
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
        enforce it. ``pass_fds`` are inherited by the command (the report pipe) where the
        sandbox :class:`PassesDescriptors`.
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


# ---------------------------------------------------------------------------- capabilities


@runtime_checkable
class Closeable(Protocol):
    """Optional for models and retrievers: something to release when done with it (an HTTP
    client, an embedded engine, the index's database connection). Whoever built the object
    closes it; :func:`patchloop.repair` closes the models it built."""

    def close(self) -> None:
        """Release what the object holds; idempotent."""
        ...


@runtime_checkable
class ContextWindow(Protocol):
    """Optional for models: the context window that the prompt and the reply share. The
    prompt budget of a model that has one leaves room for the reply in it."""

    @property
    def context_size(self) -> int | None:
        """Tokens the context holds, or ``None`` when the server does not say."""
        ...


@runtime_checkable
class ScoredRetriever(Protocol):
    """Optional for retrievers: each hit with its raw score per signal, for fusion."""

    def search_scored(
        self, query: str, k: int = 10, ref: str | None = None
    ) -> list[tuple[Hit, dict[str, float]]]:
        """Like :meth:`Retriever.search`, with ``{signal: score}`` for every hit."""
        ...


@runtime_checkable
class IndexedRetriever(Protocol):
    """Optional for retrievers: a view of the code index for the issue ranking (definitions,
    files and their terms), and the project directory the hits are relative to."""

    @property
    def scope(self) -> str:
        """The project's directory within the repository (``""`` at the root)."""
        ...

    def view(self) -> CodeView:
        """Reads over the indexed ref for :func:`patchloop.localize.issue_report.rank_issue`."""
        ...


@runtime_checkable
class PassesDescriptors(Protocol):
    """Optional for sandboxes: ``run`` hands ``pass_fds`` to the command at the same numbers
    (a process on this machine can inherit them; one on another machine cannot). The test
    runner reads its report through a pipe from such a sandbox, else through a file."""

    @property
    def passes_descriptors(self) -> bool:
        """Whether the command inherits ``pass_fds``."""
        ...


class WarmRunner(Protocol):
    """Runs ``python ARGS`` on a warm interpreter (see :class:`WarmSandbox`)."""

    def accepts(self, workdir: Path) -> bool:
        """Whether runs in ``workdir`` can be served warm."""
        ...

    def run(
        self,
        args: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> ProcessResult:
        """Run ``python ARGS`` in ``workdir``."""
        ...


@runtime_checkable
class WarmSandbox(Protocol):
    """Optional for sandboxes: interpreters that already imported the test framework, each
    run a fork of one instead of a fresh start."""

    def warm_python(
        self,
        python: str,
        preload: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        lane: int = 0,
    ) -> WarmRunner | None:
        """A fork server of ``python`` that imported ``preload`` (kept and reused per
        arguments), or ``None`` when none can be started. Each ``lane`` has servers of its
        own: runs in different lanes go at the same time (a server takes one run at a time)."""
        ...
