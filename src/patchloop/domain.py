"""Typed, frozen objects that cross seams. No seam takes or returns a bare dict.

They are pydantic models so that a run record round-trips through JSON exactly, which replay
depends on.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Attempt",
    "AttemptStatus",
    "CandidateCounts",
    "Capabilities",
    "Completion",
    "CompletionRequest",
    "Edit",
    "Event",
    "Feedback",
    "FeedbackKind",
    "FileChange",
    "Frame",
    "Hit",
    "Limits",
    "Location",
    "Message",
    "Outcome",
    "OutputContract",
    "Patch",
    "Plan",
    "ProcessResult",
    "RunRecord",
    "RunStatus",
    "Sampling",
    "SnapshotInfo",
    "Task",
    "TestOutcome",
    "TestReport",
    "TestSelection",
    "TierPlan",
    "Usage",
]

Scalar = str | int | float | bool | None


class Frozen(BaseModel):
    """Base of all domain objects: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------- task


class Task(Frozen):
    """What the user asked for: a repository, a description and/or failing tests."""

    repo: Path
    """Project directory inside a git work tree; tests run from here."""
    description: str = ""
    """Free-text task ("invoices with a 100% discount show negative tax")."""
    tests: tuple[str, ...] = ()
    """Failing test node ids named by the user; empty means every test failing at baseline."""
    test_cmd: tuple[str, ...] = ("python", "-m", "pytest")
    """Test command as argv; a leading ``python`` means the harness's interpreter."""
    allow_test_edits: bool = False
    """Whether patches may change test files, ``conftest.py`` and test configuration."""


# ---------------------------------------------------------------------------- models


class Message(Frozen):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


class OutputContract(Frozen):
    """The machine-checkable shape a reply must have, for servers that can constrain output."""

    name: str
    """Short name of the format the contract describes (``json``, ``search-replace``)."""
    json_schema: dict[str, Any] | None = None
    """JSON schema of the reply, when the reply is JSON."""
    grammar: str | None = None
    """GBNF grammar (llama.cpp dialect) of the reply."""
    regex: str | None = None
    """Regular expression of the whole reply, for servers that take one."""
    unit_end: str | None = None
    """Text that closes one edit of the reply; a backend that watches its output as it goes
    stops a reply that closes an edit identical to an earlier one (a looping model)."""


class Sampling(Frozen):
    """Sampling parameters of a request."""

    temperature: float = 0.0
    max_tokens: int = 4096
    seed: int | None = None
    stop: tuple[str, ...] = ()


class CompletionRequest(Frozen):
    """Everything a backend needs to produce one completion."""

    messages: tuple[Message, ...]
    contract: OutputContract | None = None
    """Constrain the output to this contract where the backend can; always validated after."""
    sampling: Sampling = Sampling()
    adapter: str | None = None
    """LoRA adapter to apply, where the backend supports adapters."""
    cache_key: str | None = None
    """Stable key for prefix-cache routing (same for every iteration of one run)."""
    cache_points: tuple[tuple[int, int], ...] = ()
    """``(message index, characters of its content)`` pairs: the prompt up to each point is
    the same in other runs (rules and format, then the repository's map and files); backends
    that keep prefixes across runs save and reuse them there."""
    timeout_s: float | None = None
    """Seconds left for this completion, retries included (the run's or tier's deadline);
    backends cap their own request timeout at it and do not retry past it."""


class Usage(Frozen):
    """Token accounting of one or more completions."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens the server or engine reported as reused from its prefix cache."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )

    @property
    def total(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class Completion(Frozen):
    """A backend's answer."""

    text: str
    finish_reason: str = "stop"
    """``stop``, ``length`` (truncated), or the server's own word."""
    usage: Usage = Usage()
    latency_s: float = 0.0
    model: str = ""
    """Model name as the server reported it."""
    prefill_s: float | None = None
    """Seconds spent evaluating the prompt, where the backend measures it (embedded)."""
    decode_s: float | None = None
    """Seconds spent generating the reply, where the backend measures it (embedded)."""
    forks: int = 0
    """Times the reply was decoded again from a token the model hesitated on, because it
    changed nothing or repeated a failed one (embedded engine; see ``AvoidingSampler``)."""


class Capabilities(Frozen):
    """What a backend can do; the loop adapts to it."""

    constrained_output: bool = False
    """The server enforces ``OutputContract`` (JSON schema or grammar)."""
    grammar: bool = False
    """The server takes a GBNF grammar or regex, so plain-text formats can be constrained."""
    adapters: bool = False
    reports_cached_tokens: bool = False
    tokenizer: bool = False
    """``count_tokens`` uses the model's own tokenizer rather than an estimate."""


# ---------------------------------------------------------------------------- edits


class Edit(Frozen):
    """Replace ``search`` with ``replace`` in ``path``.

    An empty ``search`` creates ``path``, which must not exist yet; with ``whole``, ``replace``
    becomes the content of ``path`` whether it exists or not. ``line_hint`` (1-based) says
    where the search text is expected, for formats that know (unified diff hunks).
    """

    path: str
    search: str
    replace: str
    line_hint: int | None = None
    whole: bool = False
    """``replace`` is the file's complete new content (``search`` is empty): a rewrite."""


class FileChange(Frozen):
    """One file before and after a patch; ``None`` means the file does not exist."""

    path: str
    before: str | None
    after: str | None


class Patch(Frozen):
    """A set of file changes and its unified diff, the stored artifact of every attempt."""

    diff: str
    changes: tuple[FileChange, ...] = Field(default=(), exclude=True)
    label: str = ""
    """What produced the patch (a fixer template and its location), for records."""

    @property
    def paths(self) -> tuple[str, ...]:
        """Paths the patch changes, in order."""
        return tuple(c.path for c in self.changes)

    @property
    def empty(self) -> bool:
        """True when the patch changes nothing."""
        return not self.diff


class ScopeFile(Frozen):
    """A file a reply may edit: its original text and the line ranges the model was shown."""

    path: str
    text: str
    spans: tuple[tuple[int, int], ...] = ()
    """1-based inclusive line ranges shown to the model; empty: the whole file."""

    def runs(self) -> tuple[tuple[str, ...], ...]:
        """The shown lines (without line ends), one tuple per contiguous range."""
        lines = self.text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        spans = self.spans or ((1, len(lines)),)
        return tuple(tuple(lines[start - 1 : end]) for start, end in spans if end >= start)


class EditScope(Frozen):
    """What one reply may do: edit these files, with at most ``max_edits`` edits.

    Edit formats turn it into an output contract (a grammar that admits only these paths and,
    where the format allows, only text copied from the shown lines), and replies from servers
    that cannot enforce a contract are checked against it.
    """

    files: tuple[ScopeFile, ...]
    max_edits: int = Field(default=4, ge=1)
    docstrings: bool = True
    """Whether a changed docstring can change a failing test's outcome (a doctest may fail);
    when not, an edit of docstrings alone changes nothing."""

    @property
    def paths(self) -> tuple[str, ...]:
        """The editable paths, in order."""
        return tuple(f.path for f in self.files)


# ---------------------------------------------------------------------------- sandbox


class Limits(Frozen):
    """Resource limits of one sandboxed process tree. ``None`` means no limit."""

    wall_s: float = 300.0
    """Wall-clock seconds before the whole process tree is killed."""
    cpu_s: int | None = None
    memory_bytes: int | None = None
    """Address-space limit per process."""
    processes: int | None = None
    open_files: int | None = None
    file_size_bytes: int | None = None
    output_bytes: int = 4 * 1024 * 1024
    """Captured bytes per stream; past it the run is stopped, keeping head and tail."""


class ProcessResult(Frozen):
    """What a sandboxed command did."""

    argv: tuple[str, ...]
    exit_code: int | None
    """Exit status, negative for a signal, ``None`` when it could not start."""
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    killed_by: Literal["wall", "cpu", "memory", "output", "file_size", "signal"] | None = None
    """Which limit stopped the run, if one did."""
    output_truncated: bool = False
    error: str | None = None
    """Why the command could not run at all (missing executable, ...)."""

    @property
    def timed_out(self) -> bool:
        """True when the wall clock killed the run."""
        return self.killed_by == "wall"


# ---------------------------------------------------------------------------- tests


class Outcome(StrEnum):
    """Outcome of one test."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    TIMEOUT = "timeout"
    MISSING = "missing"
    """Selected but absent from the report (not collected, or the run died first)."""

    @property
    def ok(self) -> bool:
        """Whether this outcome counts as green (an unexpected pass of a non-strict xfail
        fails nothing, as for pytest itself)."""
        return self in (Outcome.PASSED, Outcome.XFAILED, Outcome.XPASSED)


class Frame(Frozen):
    """One traceback frame."""

    path: str
    """Repository-relative POSIX path when ``in_repo``, else as reported."""
    line: int
    function: str = ""
    in_repo: bool = False


class TestOutcome(Frozen):
    """Result of one test node."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: Outcome
    duration_s: float = 0.0
    message: str = ""
    """One-line summary (assertion or exception)."""
    details: str = ""
    """Failure text as pytest rendered it (long repr)."""
    frames: tuple[Frame, ...] = ()
    arguments: str = ""
    """The arguments of a failed parametrized case (``a = [1, 2], b = 3``), fuller than
    pytest's own report shows them."""


class TestSelection(Frozen):
    """Which tests to run."""

    __test__ = False

    nodeids: tuple[str, ...] = ()
    """Node ids to run; empty runs the whole suite."""
    fail_fast: bool = False
    """Stop at the first failure (used for target tests of a candidate)."""


class TestReport(Frozen):
    """Per-test outcomes of one test run, read from a machine-readable report."""

    __test__ = False

    outcomes: tuple[TestOutcome, ...] = ()
    process: ProcessResult | None = None
    status: Literal["ok", "timeout", "no_report", "interrupted"] = "ok"
    """``no_report``: the command ended without writing a report (infrastructure)."""
    duration_s: float = 0.0

    def by_id(self) -> dict[str, TestOutcome]:
        """Outcomes keyed by node id."""
        return {o.nodeid: o for o in self.outcomes}

    @property
    def failing(self) -> tuple[str, ...]:
        """Node ids that are not green (skips excluded)."""
        return tuple(
            o.nodeid for o in self.outcomes if not o.outcome.ok and o.outcome != Outcome.SKIPPED
        )

    @property
    def passing(self) -> tuple[str, ...]:
        """Node ids that are green."""
        return tuple(o.nodeid for o in self.outcomes if o.outcome.ok)


# ---------------------------------------------------------------------------- retrieval


class Hit(Frozen):
    """A retrieved chunk of code."""

    path: str
    start_line: int
    end_line: int
    symbol: str = ""
    text: str = ""
    score: float = 0.0
    ranks: dict[str, int] = Field(default_factory=dict)
    """Rank of this chunk per signal (``bm25``, ``dense``, ``repomap``), for the record."""


class Location(Frozen):
    """A suspicious place in the code, as ranked by the localizer."""

    path: str
    start_line: int
    end_line: int
    symbol: str = ""
    score: float = 0.0
    signals: dict[str, float] = Field(default_factory=dict)
    """Score per signal (``traceback``, ``sbfl``, ``bm25``, ...)."""


# ---------------------------------------------------------------------------- plans


class TierPlan(Frozen):
    """One tier of a repair plan: model-free fixers or one model."""

    name: str
    """``fixers`` or the model spec."""
    kind: Literal["fixers", "model"]
    max_iterations: int = 5
    """Model calls (or fixer candidates) this tier may spend."""
    max_seconds: float | None = None
    adapter: str | None = None


class Plan(Frozen):
    """Ordered tiers; the next tier runs only when the previous one did not verify a fix."""

    tiers: tuple[TierPlan, ...]
    intent: str = ""
    confidence: float = 0.0


# ---------------------------------------------------------------------------- the record

AttemptStatus = Literal[
    "verified",
    "tests_failed",
    "parse_error",
    "apply_error",
    "unsafe_edit",
    "guard_rejected",
    "out_of_scope",
    "repeated",
    "syntax_error",
    "not_run",
    "empty_patch",
    "model_error",
    "infra_error",
    "interrupted",
]
FeedbackKind = Literal[
    "parse",
    "apply",
    "unsafe",
    "guard",
    "scope",
    "repeat",
    "syntax",
    "empty",
    "tests",
    "model",
    "infra",
]


class Feedback(Frozen):
    """What the next iteration is told about the last one."""

    kind: FeedbackKind
    text: str


class Attempt(Frozen):
    """One proposal and what became of it."""

    index: int
    """1-based position among all attempts of the run."""
    tier: str
    iteration: int
    """1-based position within its tier."""
    status: AttemptStatus
    well_formed: bool | None = None
    """Whether the model's output parsed under the edit contract (``None`` for fixers)."""
    edits: int = 0
    diff: str = ""
    paths: tuple[str, ...] = ()
    failing: int | None = None
    """Selected tests still failing after the patch; ``None`` when not verified."""
    failing_tests: tuple[str, ...] = ()
    feedback: Feedback | None = None
    usage: Usage = Usage()
    prompt_chars: int = 0
    prefix_shared_chars: int = 0
    """Characters of this prompt identical to the start of the previous prompt."""
    prefix_shared_tokens: int = 0
    timings: dict[str, float] = Field(default_factory=dict)
    """Seconds per phase (``context``, ``model``, ``parse``, ``apply``, ``verify``)."""
    sandbox_s: float = 0.0
    label: str = ""
    """Human description of the candidate (fixers: the template and location)."""
    error: str = ""
    """Class name of the error that ended the attempt, if one did (``ParseError``, ...)."""
    sample: int | None = None
    """0-based position of this candidate among the samples of its iteration (model tiers)."""
    votes: int = 1
    """Candidates of the iteration whose patch is the same as this one's (itself included)."""
    same_as: int | None = None
    """Index of the attempt whose patch is this one's: it was verified once, for both."""
    edit_format: str = ""
    """The edit format the candidate was asked in."""


class SnapshotInfo(Frozen):
    """Identity of the tree the run worked on."""

    root: str
    """Absolute path of the project directory."""
    git_root: str
    subdir: str = ""
    """Project directory relative to the git root ("" when they are the same)."""
    head: str | None = None
    """Commit of HEAD, ``None`` in a repository without commits."""
    fingerprint: str
    """Hash over every snapshot path and content; ``--apply`` refuses when it changed."""
    files: int = 0
    dirty: int = 0
    """Files that differ from HEAD (modified, added or untracked)."""


RunStatus = Literal["verified", "not_fixed", "nothing_to_fix", "error"]


class Event(Frozen):
    """One line of the events JSONL: something that happened during a run."""

    t: float
    """Seconds since the run started."""
    kind: str
    message: str = ""
    attempt: int | None = None
    tier: str | None = None
    data: dict[str, Scalar] = Field(default_factory=dict)


class CandidateCounts(Frozen):
    """Candidates of a run's model tiers."""

    generated: int = 0
    unique: int = 0
    """Distinct patches among them."""
    verified: int = 0


class RunRecord(Frozen):
    """Everything a run did; written under ``.patchloop/runs/<id>/record.json``."""

    id: str
    created_at: str
    status: RunStatus
    stop_reason: str = ""
    """``verified``, ``iterations``, ``tokens``, ``time``, ``exhausted``, ``nothing_to_fix``, ..."""
    task: Task
    config: dict[str, Any] = Field(default_factory=dict)
    """Resolved configuration, as JSON."""
    snapshot: SnapshotInfo | None = None
    baseline_failing: tuple[str, ...] = ()
    baseline_passing: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    """Tests the run had to turn green."""
    attempts: tuple[Attempt, ...] = ()
    best_attempt: int | None = None
    diff: str = ""
    """The verified diff, or the best attempt's diff when nothing verified."""
    usage: Usage = Usage()
    timings: dict[str, float] = Field(default_factory=dict)
    sandbox_s: float = 0.0
    wall_s: float = 0.0
    error: str | None = None
    replay_of: str | None = None
    plan: Plan | None = None
    """The tiers the run planned, with the intent that shaped them."""
    flaky: tuple[str, ...] = ()
    """Tests whose outcome varied over the baseline runs; they count for nothing."""
    baseline_reused: str | None = None
    """When the baseline (and coverage) came from a prepared template of the same repository
    state (``tests.template_cache``): when that baseline ran (ISO 8601); ``None``: it ran."""

    @property
    def verified(self) -> bool:
        """True when the diff passed the failing and the regression tests."""
        return self.status == "verified"

    def candidates(self) -> CandidateCounts:
        """How many candidates the model tiers produced, how many distinct patches they
        made, and how many of those were verified."""
        model = [a for a in self.attempts if a.sample is not None]
        distinct = [a for a in model if a.diff and a.same_as is None]
        return CandidateCounts(
            generated=len(model),
            unique=len(distinct),
            verified=sum(1 for a in distinct if a.status == "verified"),
        )
