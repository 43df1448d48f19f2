"""The API keys written once over SQL: every operation of
:class:`~patchloop.service.keys.Keys` on the ``api_keys`` table, which SQLite and PostgreSQL
define with the same columns.

A backend names only its dialect: a connection for one command (add, list, revoke) and the
connection its thread keeps for :meth:`SqlKeys.authenticate`, which every request calls;
statements use ``?`` placeholders.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from patchloop.errors import AuthenticationFailed, NotFound
from patchloop.service._keys_model import (
    PREFIX,
    ApiKey,
    NewKey,
    check_scope_syntax,
    digest,
    key_from_row,
    split_token,
    team_syntax,
)
from patchloop.service._rows import Cursor

__all__ = ["Execute", "SqlKeys"]

#: Runs one statement (``?`` placeholders) with its arguments.
Execute = Callable[[str, Sequence[Any]], Cursor]

_INSERT = (
    "INSERT INTO api_keys (id, team, scopes, hash, note, created_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_BY_ID = "SELECT * FROM api_keys WHERE id = ?"


class SqlKeys(ABC):
    """API keys per team in an ``api_keys`` table, stored hashed."""

    @abstractmethod
    def _session(self) -> AbstractContextManager[Execute]:
        """A connection for one command, in autocommit mode."""

    @abstractmethod
    def _hot(self) -> Execute:
        """The connection this thread keeps for :meth:`authenticate`."""

    @abstractmethod
    def close(self) -> None:
        """Close this thread's connection."""

    def add(self, team: str, scopes: Sequence[str], note: str = "") -> NewKey:
        """Create a key for ``team``; the returned token is not stored anywhere."""
        key = ApiKey(
            id=secrets.token_hex(6),
            team=team_syntax(team),
            scopes=check_scope_syntax(scopes),
            note=note,
            created_at=time.time(),
        )
        secret = secrets.token_urlsafe(32)
        values = (key.id, key.team, json.dumps(key.scopes), digest(secret), note, key.created_at)
        with self._session() as execute:
            execute(_INSERT, values)
        return NewKey(key=key, token=f"{PREFIX}_{key.id}_{secret}")

    def all(self) -> list[ApiKey]:
        """Every key, revoked ones included."""
        with self._session() as execute:
            rows = execute("SELECT * FROM api_keys ORDER BY created_at", ()).fetchall()
        return [key_from_row(r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key; requests with it fail from now on."""
        with self._session() as execute:
            cur = execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            )
            row = execute(_BY_ID, (key_id,)).fetchone()
        if row is None or (cur.rowcount == 0 and row["revoked_at"] is None):
            raise NotFound(f"no key {key_id!r}", hint="see patchloop serve keys list")
        return key_from_row(row)

    def authenticate(self, token: str | None) -> ApiKey:
        """The key ``token`` stands for; ``AuthenticationFailed`` otherwise."""
        if not token:
            raise AuthenticationFailed(
                "this endpoint needs an API key",
                hint="send 'Authorization: Bearer <key>' (patchloop serve keys add)",
            )
        unknown = AuthenticationFailed(
            "the API key is not valid", hint="check the key, or ask for a new one"
        )
        parts = split_token(token)
        if parts is None:
            raise unknown
        key_id, secret = parts
        row = self._hot()(_BY_ID, (key_id,)).fetchone()
        if row is None or not hmac.compare_digest(row["hash"], digest(secret)):
            raise unknown
        if row["revoked_at"] is not None:
            raise AuthenticationFailed("the API key was revoked", hint="ask for a new one")
        return key_from_row(row)
