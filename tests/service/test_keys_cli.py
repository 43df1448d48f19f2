"""``patchloop serve keys``: add prints the key once, list never shows it, revoke works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from patchloop.errors import AuthenticationFailed
from patchloop.service.keys import KeyStore


def _keys(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchloop", "serve", "keys", *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_keys_add_list_revoke(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = _keys(data, "add", "--team", "payments", "--scope", "repo:/srv/*", "--json")
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)
    assert made["token"].startswith(f"plk_{made['id']}_")
    store = KeyStore(data / "service.db")
    assert store.authenticate(made["token"]).scopes == ("repo:/srv/*",)
    listed = _keys(data, "list", "--json")
    assert made["token"] not in listed.stdout
    assert [k["team"] for k in json.loads(listed.stdout)] == ["payments"]
    assert _keys(data, "revoke", made["id"]).returncode == 0
    with pytest.raises(AuthenticationFailed):
        store.authenticate(made["token"])
    bad = _keys(data, "add", "--team", "t", "--scope", "everything")
    assert bad.returncode == 2
    assert "repo:PATTERN" in bad.stderr
