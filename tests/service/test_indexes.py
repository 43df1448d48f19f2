"""Index warm-ups: ``POST /v1/indexes``, freshness in ``GET /v1/indexes``, the push webhook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git
from tests.service.conftest import events, quickstart

pytestmark = pytest.mark.slow


def _done(client: Any, job_id: str) -> dict[str, Any]:
    events(client, job_id)
    view: dict[str, Any] = client.get(f"/v1/indexes/{job_id}").json()
    return view


def test_warm_an_index_and_see_it_go_stale(server_factory: Any, roots: Path) -> None:
    repo = quickstart(roots)
    server = server_factory(workers=1)
    client = server.client(server.key("alpha"))
    response = client.post("/v1/indexes", json={"repository": {"path": str(repo), "ref": "main"}})
    assert response.status_code == 202, response.text
    view = _done(client, response.json()["id"])
    assert (view["status"], view["verdict"]) == ("succeeded", "indexed")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert view["index"]["commit"] == head
    assert view["index"]["files"] > 5

    state = client.get("/v1/indexes", params={"repository": str(repo)}).json()["indexes"]
    assert [(s["ref"], s["commit"], s["fresh"]) for s in state] == [("main", head, True)]
    (repo / "NOTES.md").write_text("moved on\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")
    state = client.get("/v1/indexes", params={"repository": str(repo)}).json()["indexes"]
    assert state[0]["fresh"] is False
    assert state[0]["current_commit"] == git(repo, "rev-parse", "HEAD").strip()

    # A push webhook (GitLab's token header, GitHub's payload shape) indexes the pushed branch.
    hook = server.client(None).post(
        "/v1/hooks/push",
        headers={"X-Gitlab-Token": server.key("alpha")},
        json={
            "ref": "refs/heads/main",
            "after": git(repo, "rev-parse", "HEAD").strip(),
            "repository": {"clone_url": f"file://{repo}", "name": "qs"},
            "pusher": {"name": "someone"},
        },
    )
    assert hook.status_code == 202, hook.text
    pushed = _done(client, hook.json()["id"])
    assert pushed["verdict"] == "indexed"
    assert pushed["index"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    deleted = client.post(
        "/v1/hooks/push",
        json={"ref": "refs/heads/gone", "after": "0" * 40, "repository": {"clone_url": "x"}},
    )
    assert deleted.json() == {"ignored": "the branch was deleted"}
    outside = client.post(
        "/v1/hooks/push",
        json={"ref": "refs/heads/main", "repository": {"clone_url": "file:///etc/x.git"}},
    )
    assert outside.status_code == 422
