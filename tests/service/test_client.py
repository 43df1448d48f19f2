"""The typed client and ``patchloop submit`` against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from patchloop.errors import AuthenticationFailed, NotFound, UsageError
from patchloop.service.client import ServiceClient
from patchloop.service.schemas import RepairRequest, Repository
from tests.service.conftest import PATIENCE_S, quickstart

pytestmark = pytest.mark.slow


def test_client_and_submit(server_factory: Any, roots: Path, tmp_path: Path) -> None:
    repo = quickstart(roots)
    server = server_factory(workers=1)
    token = server.key("alpha")
    with ServiceClient(server.url, token) as client:
        accepted = client.submit(RepairRequest(repository=Repository(path=str(repo))))
        kinds = [e.kind for e in client.events(accepted.id)]
        assert kinds[0] == "job.queued"
        assert kinds[-1] == "job.end"
        view = client.get(accepted.id)
        assert view.verdict == "verified"
        assert view.record is not None
        # Resuming after an event yields only the later ones.
        tail = [e.kind for e in client.events(accepted.id, after=1)]
        assert tail == kinds[1:]
        assert [r.id for r in client.runs().runs] == [accepted.id]
        with pytest.raises(NotFound):
            client.get("rep_missing")
        with pytest.raises(UsageError, match="outside"):
            client.submit(RepairRequest(repository=Repository(path="/etc")))
    with ServiceClient(server.url, "plk_no_key") as stranger, pytest.raises(AuthenticationFailed):
        stranger.runs()

    key_file = tmp_path / "key"
    key_file.write_text(token + "\n")
    command = [sys.executable, "-m", "patchloop", "submit", "--server", server.url]
    command += ["--repo", str(repo), "--key-file", str(key_file)]
    as_json = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=PATIENCE_S, check=False
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["verdict"] == "verified"
    plain = subprocess.run(command, capture_output=True, text=True, timeout=PATIENCE_S, check=False)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith("diff --git a/invoicing/discounts.py")
    assert "baseline" in plain.stderr
