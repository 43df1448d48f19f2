"""Index jobs: warm the code index of a repository ref ahead of repairs."""

from __future__ import annotations

import time
from pathlib import Path

from patchloop.domain import Event
from patchloop.repo.snapshot import locate
from patchloop.service._common import EventSink, config_for
from patchloop.service.jobs import IndexSpec, JobResult
from patchloop.service.settings import ServiceSettings
from patchloop.service.sources import checkout

__all__ = ["index_job"]


def index_job(
    spec: IndexSpec, scratch: Path, settings: ServiceSettings, emit: EventSink, started: float
) -> JobResult:
    """Index the ref in place for a path (repairs of that path find it), else in a clone."""
    from patchloop.index import build_index
    from patchloop.index.stats import merge_passes

    if spec.repo.path is not None:
        root, ref = locate(Path(spec.repo.path)).git_root, spec.repo.ref
    else:
        clone = checkout(
            spec.repo, scratch, schemes=settings.git_schemes, timeout=settings.git_timeout_s
        )
        root, ref = clone, "HEAD"
    config = config_for(root, root, {})
    store = Path(config.index.dir) if config.index.dir else None

    def say(kind: str, message: str) -> None:
        emit(Event(t=round(time.monotonic() - started, 4), kind=kind, message=message))

    say("index.start", f"indexing {ref or 'the working tree'}")
    stats = build_index(root, ref, store, dense=False)
    if spec.dense:
        stats = merge_passes(stats, build_index(root, ref, store, dense=True))
    say(
        "index.end",
        f"{stats.files} files, {stats.chunks_new} new chunks, {stats.chunks_reused} reused",
    )
    return JobResult(verdict="indexed", index=stats, wall_s=round(time.monotonic() - started, 4))
