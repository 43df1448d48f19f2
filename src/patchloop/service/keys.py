"""API keys per team, stored hashed, in the queue's database.

A key reads ``plk_<id>_<secret>``; the database keeps the id, the team, the scopes and a
SHA-256 of the secret (secrets are 32 random bytes, so a fast hash is enough: there is nothing
to guess). Scopes are ``repo:PATTERN`` globs over what a request names as its repository (an
absolute path or a git URL); ``repo:*`` covers every repository.

The keys live where the jobs do (:func:`keys_for`): the SQLite file in ``data_dir``
(:class:`KeyStore`) or, with a ``queue_url``, the PostgreSQL database every ``serve`` of it
shares (:class:`~patchloop.service._keys_pg.PostgresKeys`). Both are
:class:`~patchloop.service._keys_sql.SqlKeys`: the same operations, checks and errors.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from patchloop.service._db import connect
from patchloop.service._keys_model import ApiKey, NewKey, check_scope_syntax
from patchloop.service._keys_sql import Execute, SqlKeys

if TYPE_CHECKING:
    from patchloop.service.settings import ServiceSettings

__all__ = ["ApiKey", "KeyStore", "Keys", "NewKey", "check_scope_syntax", "keys_for"]


class Keys(Protocol):
    """Where the API keys are kept."""

    def add(self, team: str, scopes: Sequence[str], note: str = "") -> NewKey:
        """Create a key for ``team``; the returned token is not stored anywhere."""
        ...

    def all(self) -> list[ApiKey]:
        """Every key, revoked ones included."""
        ...

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key (``NotFound`` for an unknown id); requests with it fail from now on."""
        ...

    def authenticate(self, token: str | None) -> ApiKey:
        """The key ``token`` stands for; ``AuthenticationFailed`` otherwise (none, malformed,
        unknown, wrong secret, revoked)."""
        ...

    def close(self) -> None:
        """Close this thread's connection."""
        ...


class KeyStore(SqlKeys):
    """The ``api_keys`` table of the SQLite service database: a connection per command, and
    one per thread for :meth:`authenticate`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    @contextmanager
    def _session(self) -> Iterator[Execute]:
        conn = connect(self.path)
        try:
            yield conn.execute
        finally:
            conn.close()

    def _hot(self) -> Execute:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # One connection per thread: every request authenticates.
            conn = self._local.conn = connect(self.path, migrate=False)
        return conn.execute

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def keys_for(settings: ServiceSettings, queue: object | None = None) -> Keys:
    """The keys of ``settings``' database: PostgreSQL's when ``queue_url`` names one (on the
    connections of ``queue`` when it is that database's queue), else the SQLite file in
    ``data_dir``. ``ConfigError`` when the database cannot be reached."""
    if settings.queue_url is None:
        return KeyStore(settings.db_path)
    try:
        from patchloop.service._keys_pg import PostgresKeys
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        from patchloop.service.backend import psycopg_missing

        raise psycopg_missing(exc) from exc
    return PostgresKeys.open(settings.queue_url, queue)
