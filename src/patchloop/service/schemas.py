"""Request and response bodies of the HTTP API (they are also the OpenAPI schema at /docs).

Requests forbid unknown fields: a misspelt option is an error, not a silent default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from patchloop.domain import RunRecord, Usage
from patchloop.index.stats import IndexStats
from patchloop.service.jobs import Job, JobKind, JobStatus, RepairSpec, TestVerdict

__all__ = [
    "Accepted",
    "Budgets",
    "ErrorBody",
    "IndexList",
    "IndexRequest",
    "IndexState",
    "PushHook",
    "RepairRequest",
    "Repository",
    "RunList",
    "RunSummary",
    "RunView",
    "Urls",
    "VerifyRequest",
    "accepted",
    "run_summary",
    "run_view",
]


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Repository(_Request):
    """Exactly one of ``path`` (on the server, inside an allowed root) or ``url`` (git)."""

    path: str | None = Field(default=None, examples=["/srv/repos/invoicing"])
    url: str | None = Field(default=None, examples=["https://git.example.com/team/app.git"])
    ref: str | None = Field(default=None, description="Branch, tag or commit (default: HEAD).")


class Budgets(_Request):
    """Limits of one repair; the server caps ``timeout``."""

    max_iterations: int | None = Field(default=None, ge=1, le=100)
    max_tokens: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0, description="Seconds for the whole run.")


class RepairRequest(_Request):
    """``POST /v1/repairs``: what to repair and how."""

    repository: Repository
    task: str = Field(default="", description="What is wrong, in plain words.")
    tests: list[str] = Field(default_factory=list, description="Failing test node ids.")
    test_cmd: str | None = Field(default=None, examples=["python -m pytest"])
    models: list[str] = Field(
        default_factory=list, description="Model specs the server offers, cheapest first."
    )
    edit_format: str | None = Field(default=None, examples=["search-replace"])
    budgets: Budgets = Budgets()
    fixers: bool = Field(default=True, description="Try the model-free tier first.")
    samples: int = Field(
        default=1, ge=1, description="Candidates per model call; the tests choose among them."
    )
    sampling: Literal["temperature", "branches"] = Field(
        default="branches",
        description="Where the candidates after the first come from: branches of the first "
        "reply at its least certain tokens (embedded models; others sample by temperature), "
        "or hotter samples.",
    )
    apply_to_branch: str | None = Field(
        default=None, description="Commit a verified fix on this new branch (path repositories)."
    )


class VerifyRequest(_Request):
    """``POST /v1/verify``: does this diff make these tests pass?"""

    repository: Repository
    diff: str = Field(description="Unified diff, as git diff writes it.")
    tests: list[str] = Field(default_factory=list, description="Node ids; none: every test.")
    test_cmd: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    wait: bool = Field(default=True, description="Answer with the verdict (up to a limit).")


class IndexRequest(_Request):
    """``POST /v1/indexes``: warm the code index of a repository ref."""

    repository: Repository
    dense: bool = Field(default=False, description="Also embed the chunks (slower).")


class _HookRepository(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    clone_url: str | None = None
    git_http_url: str | None = None
    url: str | None = None


class PushHook(BaseModel):
    """A code host's push event (GitHub, GitLab, Gitea shapes); other fields are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    ref: str = Field(examples=["refs/heads/main"])
    after: str | None = None
    repository: _HookRepository | None = None
    project: _HookRepository | None = None

    @property
    def url(self) -> str | None:
        """The clone URL the payload names."""
        for holder in (self.repository, self.project):
            if holder is not None:
                found = holder.clone_url or holder.git_http_url or holder.url
                if found:
                    return found
        return None


class IndexState(BaseModel):
    """``GET /v1/indexes``: the latest index of one ref and whether it is current."""

    repository: str
    ref: str
    commit: str | None
    indexed_at: float
    job_id: str
    files: int
    chunks: int
    current_commit: str | None
    """What the ref points at now (``None``: the working tree, or the host did not say)."""
    fresh: bool | None


class IndexList(BaseModel):
    """The team's indexed refs, newest first."""

    indexes: list[IndexState]


class Urls(BaseModel):
    """Where to look next."""

    self: str
    events: str
    cancel: str


class Accepted(BaseModel):
    """``202``: the job is queued (or, with a repeated Idempotency-Key, was already)."""

    id: str
    kind: JobKind
    status: JobStatus
    replayed: bool = Field(description="True when an earlier request with the same key made it.")
    urls: Urls


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer."""

    error: str
    hint: str | None = None
    kind: str
    details: list[dict[str, Any]] | None = None


class RunSummary(BaseModel):
    """A job in a list."""

    id: str
    kind: JobKind
    status: JobStatus
    verdict: str | None
    repository: str
    created_at: float
    finished_at: float | None
    retries: int
    fixed_by: str | None = None
    urls: Urls


class RunView(RunSummary):
    """A job in full: ``GET /v1/repairs/{id}`` and ``GET /v1/verify/{id}``."""

    task: str = ""
    started_at: float | None
    queue_wait_s: float | None
    time_to_verdict_s: float | None
    leases: int
    cancel_requested: bool
    worker: str | None
    diff: str = ""
    usage: Usage = Usage()
    sandbox_s: float = 0.0
    wall_s: float = 0.0
    process_s: float = 0.0
    timings: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    hint: str | None = None
    write_back: str | None = None
    run_ids: list[str] = Field(default_factory=list)
    tests: list[TestVerdict] = Field(default_factory=list)
    index: IndexStats | None = None
    record: RunRecord | None = None
    events_pruned_at: float | None = None
    """When the job's event log was deleted by retention (``keep_events_days``); the job's
    event stream then holds one ``job.pruned`` event."""


class RunList(BaseModel):
    """``GET /v1/runs``: newest first."""

    runs: list[RunSummary]
    next_cursor: str | None = None


def _urls(job: Job) -> Urls:
    base = {"repair": "/v1/repairs/", "verify": "/v1/verify/", "index": "/v1/indexes/"}[job.kind]
    base += job.id
    return Urls(self=base, events=f"/v1/repairs/{job.id}/events", cancel=f"/v1/repairs/{job.id}")


def accepted(job: Job, replayed: bool) -> Accepted:
    """The ``202`` body for ``job``."""
    return Accepted(id=job.id, kind=job.kind, status=job.status, replayed=replayed, urls=_urls(job))


def run_summary(job: Job) -> RunSummary:
    """The list entry of ``job``."""
    return RunSummary(
        id=job.id,
        kind=job.kind,
        status=job.status,
        verdict=job.verdict,
        repository=job.repo,
        created_at=job.created_at,
        finished_at=job.finished_at,
        retries=job.retries,
        fixed_by=job.result.fixed_by if job.result else None,
        urls=_urls(job),
    )


def run_view(job: Job) -> RunView:
    """The full view of ``job``."""
    result = job.result
    started = job.first_started_at
    return RunView(
        **run_summary(job).model_dump(),
        task=job.spec.task if isinstance(job.spec, RepairSpec) else "",
        started_at=started,
        queue_wait_s=round(started - job.created_at, 4) if started is not None else None,
        time_to_verdict_s=(
            round(job.finished_at - job.created_at, 4) if job.finished_at is not None else None
        ),
        leases=job.leases,
        cancel_requested=job.cancel_requested,
        worker=job.worker,
        diff=result.diff if result else "",
        usage=result.usage if result else Usage(),
        sandbox_s=result.sandbox_s if result else 0.0,
        wall_s=result.wall_s if result else 0.0,
        process_s=result.process_s if result else 0.0,
        timings=result.timings if result else {},
        error=result.error if result else None,
        hint=result.hint if result else None,
        write_back=result.write_back if result else None,
        run_ids=list(result.run_ids) if result else [],
        tests=list(result.tests) if result else [],
        index=result.index if result else None,
        record=result.record if result else None,
        events_pruned_at=job.events_pruned_at,
    )
