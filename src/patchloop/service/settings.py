"""Settings of the repair service: the ``[service]`` table of the server's own config file.

The file is the operator's, never a repository's: it chooses which directories the service may
read, which model endpoints callers may name, and the limits every request is held to.

```toml
[service]
data_dir = "/var/lib/patchloop"
allowed_roots = ["/srv/repos"]
models = ["vllm:http://127.0.0.1:8000/v1#qwen2.5-coder-7b"]
workers = 2

[service.limits]
rate_per_minute = 120

[service.teams.payments]
concurrency = 4

[service.slo]
time_to_verdict_s = 600
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from patchloop.errors import ConfigError
from patchloop.service._urls import POSTGRES_SCHEMES, display_url, scheme_of

__all__ = [
    "RequestLimits",
    "ServiceSettings",
    "SloSettings",
    "TeamSettings",
    "load_service_settings",
]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RequestLimits(_Section):
    """What one request may carry, and how often a key may send one."""

    body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body."""
    diff_bytes: int = Field(default=512 * 1024, ge=1)
    """Largest unified diff sent to ``/v1/verify``."""
    tests: int = Field(default=500, ge=1)
    """Most test ids one request may name."""
    task_chars: int = Field(default=20_000, ge=1)
    """Longest task description."""
    samples: int = Field(default=4, ge=1)
    """Most independent repairs one request may ask for."""
    rate_per_minute: float = Field(default=120.0, gt=0)
    """Requests per minute and key, refilled continuously."""
    burst: int = Field(default=30, ge=1)
    """Requests a key may send at once before the rate applies."""


class TeamSettings(_Section):
    """Per-team overrides (``[service.teams.NAME]``)."""

    concurrency: int = Field(ge=1)
    """Jobs of this team that may run at once."""


class SloSettings(_Section):
    """Service-level objectives (``[service.slo]``), reported by ``GET /v1/slo``."""

    window_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    """Jobs finished in this many seconds before now are measured."""
    time_to_verdict_s: float = Field(default=900.0, gt=0)
    """A repair should reach its verdict within this many seconds of being accepted ..."""
    time_to_verdict_share: float = Field(default=0.9, gt=0, lt=1)
    """... for at least this share of repairs (0.9: the p90 objective)."""
    verified_share: float = Field(default=0.5, ge=0, lt=1)
    """At least this share of repairs with a verdict should end verified."""
    infra_failure_share: float = Field(default=0.05, gt=0, le=1)
    """At most this share of jobs may fail for reasons of the service (lost workers, sandbox)."""


class ServiceSettings(_Section):
    """Everything ``patchloop serve`` and its workers need to know."""

    data_dir: Path = Path("patchloop-service")
    """Database, run records and scratch clones."""
    queue_url: str | None = Field(default=None, repr=False)
    """Where the job queue lives. None: the SQLite file ``data_dir/service.db`` (one machine).
    ``postgresql://user:password@host:5432/db`` (or ``postgres://``): a PostgreSQL database
    the API and workers on any machine share; its tables are created on first use, and the API
    keys live there too, so every machine knows the same keys. The password is never logged."""
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    workers: int = Field(default=2, ge=0)
    """Worker processes (0: accept and queue only, e.g. on an API-only node)."""
    max_running: int = Field(default=16, ge=1)
    """Jobs running at once across all workers."""
    team_concurrency: int = Field(default=2, ge=1)
    """Jobs of one team running at once, unless ``teams`` says otherwise."""
    teams: dict[str, TeamSettings] = Field(default_factory=dict)
    allowed_roots: tuple[Path, ...] = ()
    """Directories whose repositories callers may name by path (and by ``file://`` URL)."""
    git_schemes: tuple[str, ...] = ("https",)
    """URL schemes a git repository may be cloned over (``https``, ``ssh``, ``file``)."""
    git_timeout_s: float = Field(default=60.0, gt=0)
    """Bound on ``git ls-remote`` at submission and on a clone in a worker."""
    models: tuple[str, ...] = ()
    """Model specs callers may ask for; none: the model-free tier only."""
    max_timeout_s: float = Field(default=3600.0, gt=0)
    """Ceiling on a repair's wall-clock budget (``timeout``)."""
    default_timeout_s: float = Field(default=1800.0, gt=0)
    lease_s: float = Field(default=30.0, gt=0)
    """A running job whose worker sent no heartbeat for this long is taken back."""
    heartbeat_s: float = Field(default=1.0, gt=0)
    max_leases: int = Field(default=2, ge=1)
    """Times a job may be started: 2 is one retry after a lost worker."""
    cancel_grace_s: float = Field(default=5.0, ge=0)
    """After a cancel, how long a run may take to stop before its processes are killed."""
    verify_wait_s: float = Field(default=300.0, ge=0)
    """How long ``POST /v1/verify`` waits for its verdict before answering 202."""
    keep_events_days: float = Field(default=30.0, ge=0)
    """Days a finished job's event log is kept; then its events are deleted (the job, its
    status, result, diff and verdict stay, marked as pruned). 0: keep every event forever.
    A ``serve`` with workers prunes at start-up and hourly."""
    limits: RequestLimits = RequestLimits()
    slo: SloSettings = SloSettings()

    @field_validator("queue_url")
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        if url is not None and scheme_of(url) not in POSTGRES_SCHEMES:
            raise ValueError(
                f"{display_url(url)} is not a postgresql:// URL "
                "(leave queue_url out for the SQLite file in data_dir)"
            )
        return url

    @property
    def db_path(self) -> Path:
        """The SQLite database."""
        return self.data_dir / "service.db"

    def team_limit(self, team: str) -> int:
        """Jobs of ``team`` that may run at once."""
        found = self.teams.get(team)
        return found.concurrency if found is not None else self.team_concurrency


def load_service_settings(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> ServiceSettings:
    """Settings from ``path``'s ``[service]`` table (all defaults without a file), with
    ``overrides`` (top-level keys; ``None`` values ignored) applied last."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"cannot read {path}: {exc}", hint="fix the file, or leave --config out"
            ) from exc
        unknown = sorted(set(doc) - {"service"})
        if unknown:
            raise ConfigError(
                f"{path}: unknown table(s) {', '.join(unknown)}",
                hint="the server's settings go under [service]",
            )
        table = doc.get("service", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [service] is not a table")
        data.update(table)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return ServiceSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        where = str(path) if path is not None else "the command line"
        error = ConfigError(f"invalid service setting {key!r} ({where}): {first['msg']}")
        if key == "queue_url":  # the validation error quotes its input: the password
            raise error from None
        raise error from exc
