"""Typed objects that cross the service's seams: jobs, their specs, results and events.

A job is one accepted request (a repair or a verification). Its :class:`JobSpec` is what a
worker needs to run it, validated and normalized when the request was accepted; its
:class:`JobResult` is what the worker found. Both are stored as JSON and read back exactly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from patchloop.domain import Event, RunRecord, Usage
from patchloop.index.stats import IndexStats

__all__ = [
    "IndexSpec",
    "Job",
    "JobEvent",
    "JobKind",
    "JobResult",
    "JobSpec",
    "JobStatus",
    "Lease",
    "NewJob",
    "RepairSpec",
    "RepoSource",
    "TestVerdict",
    "VerifySpec",
]

JobKind = Literal["repair", "verify", "index"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
#: Statuses a job never leaves.
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RepoSource(_Frozen):
    """Where the repository comes from: a directory the server may read, or a git URL."""

    path: str | None = None
    """Absolute, resolved project directory (inside an allowed root)."""
    url: str | None = None
    """Git URL to clone."""
    ref: str | None = None
    """Branch, tag or commit; with a path, the run works on that commit instead of the tree."""

    @property
    def display(self) -> str:
        """The repository as runs are filtered and scopes are matched by."""
        return self.path if self.path is not None else str(self.url)


class RepairSpec(_Frozen):
    """A repair as a worker runs it."""

    kind: Literal["repair"] = "repair"
    repo: RepoSource
    task: str = ""
    tests: tuple[str, ...] = ()
    test_cmd: str | None = None
    models: tuple[str, ...] = ()
    edit_format: str | None = None
    max_iterations: int | None = None
    max_tokens: int | None = None
    timeout: float
    fixers: bool = True
    samples: int = 1
    sampling: Literal["temperature", "branches"] = "branches"
    apply_to_branch: str | None = None


class VerifySpec(_Frozen):
    """A verification of a given diff as a worker runs it."""

    kind: Literal["verify"] = "verify"
    repo: RepoSource
    diff: str
    tests: tuple[str, ...] = ()
    test_cmd: str | None = None
    timeout: float


class IndexSpec(_Frozen):
    """Warm the code index of a repository ref ahead of repairs."""

    kind: Literal["index"] = "index"
    repo: RepoSource
    dense: bool = False
    """Also embed the chunks (slower; needs the index extra's embedding model)."""
    timeout: float


JobSpec = RepairSpec | VerifySpec | IndexSpec


class NewJob(_Frozen):
    """A validated request about to be queued."""

    spec: RepairSpec | VerifySpec | IndexSpec = Field(discriminator="kind")
    team: str
    key_id: str
    idempotency_key: str | None = None
    request_hash: str = ""
    """Digest of the request body, to tell a retried request from a different one."""


class TestVerdict(_Frozen):
    """Outcome of one test under a verified diff."""

    __test__ = False

    nodeid: str
    outcome: str
    message: str = ""


class JobResult(_Frozen):
    """What the worker found; stored with the job."""

    verdict: str
    """Repairs: ``verified``, ``not_fixed``, ``nothing_to_fix``, ``error``. Verifications:
    ``passed``, ``failed``, ``rejected`` (the diff does not apply or touches protected files),
    ``error``. Index jobs: ``indexed``, ``error``."""
    diff: str = ""
    fixed_by: str | None = None
    """Tier that verified the fix (``fixers`` or a model spec)."""
    usage: Usage = Usage()
    sandbox_s: float = 0.0
    wall_s: float = 0.0
    """Seconds of the library's run(s), as their records say."""
    process_s: float = 0.0
    """Seconds the job process ran: checkout, snapshot, run(s), record."""
    timings: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    hint: str | None = None
    error_kind: str | None = None
    """Class name of the error that ended the job, if one did."""
    infra: bool = False
    """The job failed for reasons of the service or the sandbox, not of the code."""
    run_ids: tuple[str, ...] = ()
    record_dir: str | None = None
    record: RunRecord | None = None
    write_back: str | None = None
    tests: tuple[TestVerdict, ...] = ()
    """Verifications: the outcome of every selected test."""
    index: IndexStats | None = None
    """Index jobs: what indexing did (ref, commit, files and chunks reused or new)."""


class Job(_Frozen):
    """One job as stored."""

    id: str
    seq: int
    kind: JobKind
    team: str
    repo: str
    status: JobStatus
    verdict: str | None = None
    spec: RepairSpec | VerifySpec | IndexSpec = Field(discriminator="kind")
    created_at: float
    started_at: float | None = None
    first_started_at: float | None = None
    finished_at: float | None = None
    leases: int = 0
    """Times the job was started."""
    retries: int = 0
    """Times the job was started again after its worker was lost."""
    cancel_requested: bool = False
    worker: str | None = None
    result: JobResult | None = None
    events_pruned_at: float | None = None
    """When retention deleted the job's event log (Unix time); its row and result stay."""

    @property
    def done(self) -> bool:
        """Whether the job reached a terminal status."""
        return self.status in TERMINAL


class Lease(_Frozen):
    """A job handed to a worker; ``token`` fences every later write of that worker."""

    job: Job
    token: str
    worker: str
    number: int
    """1 for the first start, 2 for the retry, ..."""


class JobEvent(_Frozen):
    """One entry of a job's event log, as the events endpoint streams it."""

    id: int
    """Increasing across the server; the SSE id a client resumes from."""
    job_id: str
    at: float
    """Unix time."""
    lease: int = 0
    kind: str
    """``job.*`` for the service's own events; the library's kinds (``baseline.end``, ...)."""
    message: str = ""
    event: Event | None = None
    """The library's event, for run events."""
