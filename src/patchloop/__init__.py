"""patchloop turns a red test suite green and proves it.

This module is the library's public surface; the CLI, the service and the Ray engine are
callers of it. Everything named in ``__all__`` is public and typed. Every submodule
(``patchloop.loop``, ``patchloop.session``, ``patchloop.sandbox`` ...) is internal: its names
may change between releases without notice.

One repair::

    from pathlib import Path
    import patchloop

    resolved = patchloop.load_config(Path("project"))
    task = patchloop.Task(repo=Path("project"), description="clamp returns low for high values")
    record = patchloop.repair(task, resolved.config, on_event=print)
    if record.verified:
        print(record.diff)

:func:`repair` takes

- a :class:`Task` (the repository, an issue text, the tests that must pass, the test command);
- a :class:`Config` (its sections: :class:`ModelSettings`, :class:`ContextSettings`,
  :class:`TestSettings`, :class:`FixerSettings`, :class:`SandboxSettings`,
  :class:`RouteSettings`, :class:`IndexSettings`, :class:`SearchSettings`), built directly or
  resolved from files, the environment and flags by :func:`load_config`;
- optionally ``models``: objects of the :class:`Model` protocol (built from ``config.models``
  otherwise; models passed in are the caller's to close), ``on_event`` (an :data:`EventSink`
  called with every :class:`Event`), and ``state_dir`` (where the run record goes; default
  ``<project>/.patchloop``);

and returns the :class:`RunRecord` (status, verified diff, every :class:`Attempt`, usage,
timings), also written under the state directory. It raises only errors of the tree rooted at
:class:`PatchloopError` (:class:`UsageError` for bad input, :class:`SandboxError` for the
harness, :class:`ModelError` for a backend, ...), or ``KeyboardInterrupt``; the record of a run
that ended on an error is on disk, marked as such. Whatever way it returns, the run's sandbox
(warm interpreters, scratch directories) and the models it built are closed.

Seams a caller may implement: :class:`Model` (with the optional capability
:class:`BatchSampler`), :class:`Sandbox`,
:class:`TestRunner`, :class:`EditFormat`, :class:`Fixer`, :class:`Retriever`,
:class:`Localizer` and :class:`Router`; the domain objects they take and return are exported
too. Configuration names implementations by short name or dotted path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from patchloop.config import (
    Config,
    ContextSettings,
    FixerSettings,
    IndexSettings,
    IntentPolicy,
    ModelSettings,
    ResolvedConfig,
    RouteSettings,
    SandboxSettings,
    SearchSettings,
    TestSettings,
    load_config,
)
from patchloop.domain import (
    Attempt,
    AttemptStatus,
    Capabilities,
    Completion,
    CompletionRequest,
    Edit,
    EditScope,
    Event,
    Feedback,
    FeedbackKind,
    FileChange,
    Hit,
    Limits,
    Location,
    Message,
    Outcome,
    OutputContract,
    Patch,
    Plan,
    ProcessResult,
    RunRecord,
    RunStatus,
    Sampling,
    SnapshotInfo,
    Task,
    TestOutcome,
    TestReport,
    TestSelection,
    TierPlan,
    Usage,
)
from patchloop.errors import (
    ApplyError,
    AuthError,
    BadOutput,
    BadRequest,
    BudgetExceeded,
    ConfigError,
    ContextTooLong,
    CosmeticEdit,
    EditError,
    GuardError,
    InfrastructureError,
    InvalidSyntax,
    ModelError,
    ModelTimeout,
    ModelUnavailable,
    NotAFile,
    NothingToFix,
    OutOfScope,
    ParseError,
    PatchloopError,
    RateLimited,
    RepeatedEdit,
    RepositoryError,
    SandboxError,
    UndefinedNames,
    UnknownComponent,
    UnsafeEdit,
    UsageError,
)
from patchloop.protocols import (
    BatchSampler,
    EditFormat,
    EventSink,
    Fixer,
    Localizer,
    Model,
    Retriever,
    Router,
    Sandbox,
    TestRunner,
)

if TYPE_CHECKING:
    from patchloop.loop import repair

__all__ = [
    "ApplyError",
    "Attempt",
    "AttemptStatus",
    "AuthError",
    "BadOutput",
    "BadRequest",
    "BatchSampler",
    "BudgetExceeded",
    "Capabilities",
    "Completion",
    "CompletionRequest",
    "Config",
    "ConfigError",
    "ContextSettings",
    "ContextTooLong",
    "CosmeticEdit",
    "Edit",
    "EditError",
    "EditFormat",
    "EditScope",
    "Event",
    "EventSink",
    "Feedback",
    "FeedbackKind",
    "FileChange",
    "Fixer",
    "FixerSettings",
    "GuardError",
    "Hit",
    "IndexSettings",
    "InfrastructureError",
    "IntentPolicy",
    "InvalidSyntax",
    "Limits",
    "Localizer",
    "Location",
    "Message",
    "Model",
    "ModelError",
    "ModelSettings",
    "ModelTimeout",
    "ModelUnavailable",
    "NotAFile",
    "NothingToFix",
    "OutOfScope",
    "Outcome",
    "OutputContract",
    "ParseError",
    "Patch",
    "PatchloopError",
    "Plan",
    "ProcessResult",
    "RateLimited",
    "RepeatedEdit",
    "RepositoryError",
    "ResolvedConfig",
    "Retriever",
    "RouteSettings",
    "Router",
    "RunRecord",
    "RunStatus",
    "Sampling",
    "Sandbox",
    "SandboxError",
    "SandboxSettings",
    "SearchSettings",
    "SnapshotInfo",
    "Task",
    "TestOutcome",
    "TestReport",
    "TestRunner",
    "TestSelection",
    "TestSettings",
    "TierPlan",
    "UndefinedNames",
    "UnknownComponent",
    "UnsafeEdit",
    "Usage",
    "UsageError",
    "__version__",
    "load_config",
    "repair",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ``repair`` pulls in the whole loop (localization, context, tiers): imported on first use,
    # so that importing one light module (``patchloop.domain``) stays cheap.
    if name == "repair":
        from patchloop.loop import repair

        return repair
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
