"""The key store on both databases: the same operations, checks and errors in SQLite (no
``queue_url``) and in PostgreSQL (the queue's database), which gets its ``api_keys`` table once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from patchloop.errors import AuthenticationFailed, ConfigError, NotFound, UsageError
from patchloop.service.keys import Keys, KeyStore, keys_for
from patchloop.service.settings import ServiceSettings
from tests.service._postgres import all_at_once
from tests.service.conftest import free_port

SECRET = "s3cret-pw"
NOT_VALID = "the API key is not valid"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Keys]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    keys = keys_for(ServiceSettings(data_dir=tmp_path / "data", queue_url=url))
    assert isinstance(keys, KeyStore) == (url is None)
    try:
        yield keys
    finally:
        keys.close()


def _refused(store: Keys, token: str | None) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        store.authenticate(token)
    return caught.value.message


def test_add_list_authenticate_revoke(store: Keys) -> None:
    alpha = store.add("alpha", ["repo:/srv/*"], note="ci")
    beta = store.add("beta", ["repo:*", "repo:https://git.example/*"])
    assert alpha.token.startswith(f"plk_{alpha.key.id}_")
    assert store.authenticate(alpha.token) == alpha.key
    assert store.authenticate(beta.token).scopes == ("repo:*", "repo:https://git.example/*")
    listed = store.all()
    assert [(k.id, k.team, k.note) for k in listed] == [
        (alpha.key.id, "alpha", "ci"),
        (beta.key.id, "beta", ""),
    ]
    assert all(k.revoked_at is None for k in listed)

    revoked = store.revoke(alpha.key.id)
    assert revoked.revoked_at is not None
    assert _refused(store, alpha.token) == "the API key was revoked"
    assert store.authenticate(beta.token).team == "beta"  # the others still work
    assert store.revoke(alpha.key.id) == revoked  # again: nothing changes
    assert [k.revoked_at for k in store.all()] == [revoked.revoked_at, None]


def test_what_is_refused(store: Keys) -> None:
    made = store.add("alpha", ["repo:*"])
    key_id, secret = made.key.id, made.token.split("_", 2)[2]
    assert _refused(store, None) == "this endpoint needs an API key"
    assert _refused(store, "") == "this endpoint needs an API key"
    for token in (
        f"plk_{key_id}_{secret[:-4]}AAAA",  # wrong secret
        f"plk_000000000000_{secret}",  # unknown id
        f"xyz_{key_id}_{secret}",  # malformed: prefix
        f"plk_{key_id}",
        f"plk_{key_id}_",
        f"plk__{secret}",
        "plk",
        "not-a-key",
        f"plk_{key_id[:4]}-x_{secret}",  # an id no key has: never reaches the database
        "plk_a\x00b_secret",
    ):
        assert _refused(store, token) == NOT_VALID, token
    assert store.authenticate(made.token).id == key_id


def test_bad_input_and_unknown_ids(store: Keys) -> None:
    with pytest.raises(UsageError, match="repo:PATTERN"):
        store.add("alpha", ["everything"])
    with pytest.raises(UsageError, match="invalid team name"):
        store.add("no spaces", ["repo:*"])
    with pytest.raises(NotFound, match="no key 'nothere'"):
        store.revoke("nothere")
    assert store.all() == []


def test_postgres_keys_share_the_queue_connections_and_migrate_once(
    pg_url: str, tmp_path: Path
) -> None:
    from patchloop.service._keys_pg import KEY_MIGRATIONS, PostgresKeys
    from patchloop.service.backend import open_store
    from patchloop.service.pg_queue import PostgresQueue

    settings = ServiceSettings(data_dir=tmp_path, queue_url=pg_url)
    errors = all_at_once(lambda: keys_for(settings).close(), 3)
    assert not errors, errors

    queue = open_store(settings).queue
    assert isinstance(queue, PostgresQueue)
    keys = keys_for(settings, queue)
    assert isinstance(keys, PostgresKeys)
    assert keys.db is queue.db
    token = keys.add("alpha", ["repo:*"]).token
    keys.close()  # the queue's connection stays open
    assert keys.authenticate(token).team == "alpha"
    versions = queue.db.tuples("SELECT version FROM key_schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, len(KEY_MIGRATIONS) + 1)]
    columns = queue.db.tuples(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'api_keys' ORDER BY ordinal_position"
    )
    queue.close()
    # The same columns as SQLite's api_keys, so both read rows back with the same code.
    KeyStore(tmp_path / "service.db").all()
    with closing(sqlite3.connect(tmp_path / "service.db")) as lite:
        sqlite_columns = [r[1] for r in lite.execute("PRAGMA table_info(api_keys)")]
    assert [c for (c,) in columns] == sqlite_columns


def _unreachable() -> str:
    return f"postgresql://alice:{SECRET}@127.0.0.1:{free_port()}/jobs"


def test_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    settings = ServiceSettings(data_dir=tmp_path / "data", queue_url=_unreachable())
    with pytest.raises(ConfigError) as caught:
        keys_for(settings)
    text = f"{caught.value.message} {caught.value.hint}"
    assert "cannot connect to the queue database postgresql://alice@127.0.0.1:" in text
    assert SECRET not in text

    data = tmp_path / "cli"
    done = subprocess.run(
        [sys.executable, "-m", "patchloop", "serve", "keys", "add", "--team", "t", "--scope",
         "repo:*", "--data-dir", str(data), "--queue-url", _unreachable()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot connect to the queue database postgresql://" in done.stderr
    assert "127.0.0.1" in done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert not data.exists()  # no SQLite file instead
