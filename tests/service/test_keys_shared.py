"""Two machines sharing one PostgreSQL queue share its keys: a key made with ``serve keys`` on
one is accepted by a ``serve`` with another ``data_dir`` on the other, and a revoke on one is
seen by the other at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import quickstart, submit

pytestmark = pytest.mark.slow


def _keys(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "patchloop", "serve", "keys", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_keys_made_on_one_machine_work_on_another(
    pg_url: str, tmp_path: Path, roots: Path, server_factory: Any
) -> None:
    repo = quickstart(roots)
    machine_a = tmp_path / "a"  # where the keys are made: its own data_dir, the same database
    where = ("--data-dir", str(machine_a), "--queue-url", pg_url)
    made = {}
    for team in ("alpha", "beta", "gamma"):
        added = _keys("add", "--team", team, "--scope", "repo:*", "--json", *where)
        made[team] = json.loads(added.stdout)
    _keys("revoke", made["gamma"]["id"], *where)
    assert not (machine_a / "service.db").exists()  # nothing went to SQLite

    server = server_factory("b", workers=0, queue_url=pg_url)  # machine b
    assert server.data_dir != machine_a
    listed = _keys("list", "--json", "--config", str(server.base / "serve.toml"))
    assert [k["team"] for k in json.loads(listed.stdout)] == ["alpha", "beta", "gamma"]

    alpha = server.client(made["alpha"]["token"])
    beta = server.client(made["beta"]["token"])
    job = submit(alpha, {"repository": {"path": str(repo)}})
    assert alpha.get(f"/v1/repairs/{job['id']}").status_code == 200
    assert beta.get(f"/v1/repairs/{job['id']}").status_code == 404  # another team's run

    revoked = server.client(made["gamma"]["token"]).get("/v1/runs")
    assert revoked.status_code == 401
    assert revoked.json()["error"] == "the API key was revoked"
    assert server.client("plk_000000000000_nothing").get("/v1/runs").status_code == 401

    _keys("revoke", made["beta"]["id"], *where)  # on machine a, while b serves
    assert beta.get("/v1/runs").status_code == 401
    assert alpha.get("/v1/runs").status_code == 200
