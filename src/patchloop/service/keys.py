"""API keys per team, stored hashed.

A key reads ``plk_<id>_<secret>``; the database keeps the id, the team, the scopes and a
SHA-256 of the secret (secrets are 32 random bytes, so a fast hash is enough: there is nothing
to guess). Scopes are ``repo:PATTERN`` globs over what a request names as its repository (an
absolute path or a git URL); ``repo:*`` covers every repository.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from patchloop.errors import AuthenticationFailed, NotFound, PermissionDenied, UsageError
from patchloop.service._db import connect

__all__ = ["ApiKey", "KeyStore", "NewKey", "check_scope_syntax"]

PREFIX = "plk"


class ApiKey(BaseModel):
    """A key as stored (never the secret)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    team: str
    scopes: tuple[str, ...]
    note: str = ""
    created_at: float
    revoked_at: float | None = None

    def allows_repo(self, repo: str) -> bool:
        """Whether the key's scopes cover ``repo``."""
        return any(
            fnmatch.fnmatchcase(repo, scope.removeprefix("repo:"))
            for scope in self.scopes
            if scope.startswith("repo:")
        )

    def require_repo(self, repo: str) -> None:
        """Raise ``PermissionDenied`` unless the scopes cover ``repo``."""
        if not self.allows_repo(repo):
            raise PermissionDenied(
                f"this key's scopes ({', '.join(self.scopes) or 'none'}) do not cover {repo}",
                hint="ask for a key with a matching repo: scope (patchloop serve keys add)",
            )


class NewKey(BaseModel):
    """A key just created: the only time its secret is seen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: ApiKey
    token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scope_syntax(scopes: Sequence[str]) -> tuple[str, ...]:
    """Validate ``scopes``; each is ``repo:PATTERN`` with a non-empty pattern."""
    for scope in scopes:
        kind, _, pattern = scope.partition(":")
        if kind != "repo" or not pattern:
            raise UsageError(
                f"unknown scope {scope!r}",
                hint="use repo:PATTERN, e.g. repo:/srv/repos/* or repo:https://git.example/*",
            )
    return tuple(scopes)


def _team_syntax(team: str) -> str:
    if not team or len(team) > 64 or not all(c.isalnum() or c in "-_." for c in team):
        raise UsageError(f"invalid team name {team!r}", hint="use letters, digits, '-', '_' or '.'")
    return team


class KeyStore:
    """The ``api_keys`` table of the service database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def add(self, team: str, scopes: Sequence[str], note: str = "") -> NewKey:
        """Create a key for ``team``; the returned token is not stored anywhere."""
        key = ApiKey(
            id=secrets.token_hex(6),
            team=_team_syntax(team),
            scopes=check_scope_syntax(scopes),
            note=note,
            created_at=time.time(),
        )
        secret = secrets.token_urlsafe(32)
        conn = connect(self.path)
        try:
            conn.execute(
                "INSERT INTO api_keys (id, team, scopes, hash, note, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key.id, key.team, json.dumps(key.scopes), _digest(secret), note, key.created_at),
            )
        finally:
            conn.close()
        return NewKey(key=key, token=f"{PREFIX}_{key.id}_{secret}")

    def all(self) -> list[ApiKey]:
        """Every key, revoked ones included."""
        conn = connect(self.path)
        try:
            rows = conn.execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
        finally:
            conn.close()
        return [self._key(r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key; requests with it fail from now on."""
        conn = connect(self.path)
        try:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            )
            row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        finally:
            conn.close()
        if row is None or (cur.rowcount == 0 and row["revoked_at"] is None):
            raise NotFound(f"no key {key_id!r}", hint="see patchloop serve keys list")
        return self._key(row)

    def authenticate(self, token: str | None) -> ApiKey:
        """The key ``token`` stands for; ``AuthenticationFailed`` otherwise."""
        if not token:
            raise AuthenticationFailed(
                "this endpoint needs an API key",
                hint="send 'Authorization: Bearer <key>' (patchloop serve keys add)",
            )
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        unknown = AuthenticationFailed(
            "the API key is not valid", hint="check the key, or ask for a new one"
        )
        if prefix != PREFIX or not key_id or not secret:
            raise unknown
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # One connection per thread: every request authenticates.
            conn = self._local.conn = connect(self.path, migrate=False)
        row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None or not hmac.compare_digest(row["hash"], _digest(secret)):
            raise unknown
        if row["revoked_at"] is not None:
            raise AuthenticationFailed("the API key was revoked", hint="ask for a new one")
        return self._key(row)

    @staticmethod
    def _key(row: sqlite3.Row) -> ApiKey:
        get = row.__getitem__
        return ApiKey(
            id=get("id"),
            team=get("team"),
            scopes=tuple(json.loads(get("scopes"))),
            note=get("note"),
            created_at=get("created_at"),
            revoked_at=get("revoked_at"),
        )
