"""Server-sent events of one job, replayed from the store so a client that reconnects with
``Last-Event-ID`` misses nothing.

Each event is one ``id:``/``data:`` block (the data is a
:class:`~patchloop.service.jobs.JobEvent` as JSON); the stream ends after ``job.end``. A comment
line every few seconds keeps proxies from closing an idle stream.

A finished job whose log was pruned (:mod:`.retention`) streams one ``job.pruned`` event
instead: its status and verdict, and when the log was deleted. It is not stored; its id is the
one the client resumed from, so a reconnect gets the same answer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial

import anyio
import anyio.to_thread
from starlette.requests import Request

from patchloop.service.jobs import Job, JobEvent
from patchloop.service.queue import JobQueue

__all__ = ["PRUNED", "event_stream", "format_event", "pruned_event"]

POLL_S = 0.05
KEEPALIVE_S = 10.0
RETRY_MS = 1000
#: The kind of the last event of a job whose log was pruned.
PRUNED = "job.pruned"


def format_event(event: JobEvent) -> str:
    """One SSE block."""
    return f"id: {event.id}\ndata: {event.model_dump_json()}\n\n"


def pruned_event(job: Job, after: int) -> JobEvent:
    """What the stream of ``job``, whose log was pruned, says after event ``after``."""
    assert job.events_pruned_at is not None
    when = datetime.fromtimestamp(job.events_pruned_at, UTC).isoformat(timespec="seconds")
    return JobEvent(
        id=after,
        job_id=job.id,
        at=job.events_pruned_at,
        kind=PRUNED,
        message=f"{job.status}: {job.verdict or 'no verdict'}; the job's event log was pruned "
        f"at {when} (keep_events_days); its result is kept: GET /v1/repairs/{job.id}",
    )


async def event_stream(
    queue: JobQueue, job_id: str, after: int, request: Request
) -> AsyncIterator[str]:
    """Events of ``job_id`` with ids above ``after``, then new ones as they come."""
    yield f"retry: {RETRY_MS}\n\n"
    last = after
    quiet_since = time.monotonic()
    while True:
        events = await anyio.to_thread.run_sync(partial(queue.events, job_id, after=last))
        for event in events:
            yield format_event(event)
            last = event.id
            if event.kind == "job.end":
                return
        if events:
            quiet_since = time.monotonic()
            continue
        job = await anyio.to_thread.run_sync(queue.get, job_id, None)
        if job.done:
            # Resumed after job.end: nothing more will come; a last look for stragglers.
            for event in await anyio.to_thread.run_sync(partial(queue.events, job_id, after=last)):
                yield format_event(event)
            if job.events_pruned_at is not None:
                yield format_event(pruned_event(job, last))
            return
        if await request.is_disconnected():
            return
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await anyio.sleep(POLL_S)
