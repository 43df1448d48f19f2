"""Which store holds the jobs: chosen by the settings' ``queue_url`` scheme.

No URL: the SQLite file in ``data_dir`` (one machine). ``postgresql://`` or ``postgres://``:
a PostgreSQL database, shared by an API and workers on any number of machines. The API
process and every worker open the same store; metrics and SLOs are read from it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from patchloop.errors import ConfigError
from patchloop.service._urls import POSTGRES_SCHEMES, display_url, scheme_of
from patchloop.service.queue import JobQueue
from patchloop.service.settings import ServiceSettings
from patchloop.service.stats import SqliteStats, SqlStats, Stats

__all__ = ["Store", "describe_store", "open_store", "psycopg_missing"]


@dataclass(frozen=True)
class Store:
    """The job queue and the read side of the same database."""

    queue: JobQueue
    stats: Stats


def psycopg_missing(exc: ImportError) -> ConfigError:
    """The error for a PostgreSQL ``queue_url`` without the driver installed."""
    return ConfigError(
        f"a postgresql:// queue_url needs psycopg ({exc.name} is missing)",
        hint="pip install 'patchloop[service]'",
    )


def _sqlite(settings: ServiceSettings) -> Store:
    from patchloop.service.sqlite_queue import SqliteQueue

    return Store(queue=SqliteQueue(settings.db_path), stats=SqliteStats(settings.db_path))


def _postgres(settings: ServiceSettings) -> Store:
    assert settings.queue_url is not None
    try:
        from patchloop.service.pg_queue import PostgresQueue
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise psycopg_missing(exc) from exc
    queue = PostgresQueue(settings.queue_url)
    db = queue.db
    return Store(
        queue=queue, stats=SqlStats(lambda sql, args: db.tuples(sql.replace("?", "%s"), args))
    )


#: URL scheme -> how to open its store; no URL is SQLite.
OPENERS: dict[str, Callable[[ServiceSettings], Store]] = dict.fromkeys(POSTGRES_SCHEMES, _postgres)


def open_store(settings: ServiceSettings) -> Store:
    """Open (create and migrate when needed) the store ``settings`` name; ``ConfigError`` when
    it cannot be reached, before anything else is created."""
    if settings.queue_url is None:
        return _sqlite(settings)
    scheme = scheme_of(settings.queue_url)
    opener = OPENERS.get(scheme)
    if opener is None:  # the settings refuse such URLs already; kept for direct callers
        raise ConfigError(f"unsupported queue_url scheme {scheme!r}")
    return opener(settings)


def describe_store(settings: ServiceSettings) -> str:
    """Where the jobs are, for logs: the SQLite file or the database URL without secrets."""
    if settings.queue_url is None:
        return str(settings.db_path)
    return display_url(settings.queue_url)
