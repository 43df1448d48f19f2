"""What an API key is, apart from where it is stored: the key as stored, a key just made, the
token's format and its digest, and the checks on a new key's team and scopes."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from patchloop.errors import PermissionDenied, UsageError
from patchloop.service._rows import Row

__all__ = [
    "PREFIX",
    "ApiKey",
    "NewKey",
    "check_scope_syntax",
    "digest",
    "key_from_row",
    "split_token",
    "team_syntax",
]

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


def digest(secret: str) -> str:
    """What the database keeps of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """The id and secret of a ``plk_<id>_<secret>`` token; None when it is not one (the id
    is made of letters and digits, the secret may hold ``_``)."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        return None
    if not (key_id.isascii() and key_id.isalnum()):
        return None  # no id was ever made of anything else; never sent to the database
    return key_id, secret


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


def team_syntax(team: str) -> str:
    """``team``, when it is a valid team name."""
    if not team or len(team) > 64 or not all(c.isalnum() or c in "-_." for c in team):
        raise UsageError(f"invalid team name {team!r}", hint="use letters, digits, '-', '_' or '.'")
    return team


def key_from_row(row: Row) -> ApiKey:
    """The key of an ``api_keys`` row (SQLite's and PostgreSQL's have the same columns)."""
    return ApiKey(
        id=row["id"],
        team=row["team"],
        scopes=tuple(json.loads(row["scopes"])),
        note=row["note"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )
