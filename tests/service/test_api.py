"""The HTTP surface against a real server with no workers: auth, teams, limits, bad input,
idempotency, listing, cancel of a queued job. Nothing here runs a repair."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import Server, quickstart, submit


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("api")
    roots = base / "roots"
    roots.mkdir()
    repo = quickstart(roots)
    other = quickstart(roots, "other")
    server = Server(
        base,
        roots,
        workers=0,
        limits={
            "rate_per_minute": 6000,
            "burst": 1000,
            "tests": 3,
            "body_bytes": 4096,
            "diff_bytes": 2048,
        },
    )
    server.start()
    token_a = server.key("alpha", f"repo:{repo}")
    token_b = server.key("beta", "repo:*")
    try:
        yield {"server": server, "repo": repo, "other": other, "a": token_a, "b": token_b}
    finally:
        server.stop()


def _body(repo: Path, **extra: Any) -> dict[str, Any]:
    return {"repository": {"path": str(repo)}, **extra}


def _count(client: httpx.Client) -> int:
    runs: list[Any] = client.get("/v1/runs", params={"limit": 200}).json()["runs"]
    return len(runs)


def test_health_needs_no_key_and_docs_are_served(setup: dict[str, Any]) -> None:
    server: Server = setup["server"]
    anonymous = server.client(None)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").status_code == 200
    schema = anonymous.get("/openapi.json").json()
    assert "/v1/repairs" in schema["paths"]
    assert "/v1/verify" in schema["paths"]
    assert anonymous.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/runs"),
        ("POST", "/v1/repairs"),
        ("GET", "/v1/repairs/rep_x"),
        ("DELETE", "/v1/repairs/rep_x"),
        ("GET", "/v1/repairs/rep_x/events"),
        ("POST", "/v1/verify"),
        ("GET", "/metrics"),
        ("GET", "/v1/slo"),
    ],
)
def test_every_endpoint_but_health_needs_a_key(
    setup: dict[str, Any], method: str, path: str
) -> None:
    server: Server = setup["server"]
    missing = server.client(None).request(method, path)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "API key" in missing.json()["error"]
    wrong = server.client("plk_nothere_secret").request(method, path)
    assert wrong.status_code == 401
    forged = setup["a"][:-4] + "AAAA"
    assert server.client(forged).request(method, path).status_code == 401


def test_scopes_and_teams(setup: dict[str, Any]) -> None:
    server: Server = setup["server"]
    alpha, beta = server.client(setup["a"]), server.client(setup["b"])
    denied = alpha.post("/v1/repairs", json=_body(setup["other"]))
    assert denied.status_code == 403
    assert "scopes" in denied.json()["error"]
    job = submit(alpha, _body(setup["repo"]))
    assert alpha.get(f"/v1/repairs/{job['id']}").status_code == 200
    # Another team's run does not exist for beta, whatever the endpoint.
    assert beta.get(f"/v1/repairs/{job['id']}").status_code == 404
    assert beta.delete(f"/v1/repairs/{job['id']}").status_code == 404
    assert beta.get(f"/v1/repairs/{job['id']}/events").status_code == 404
    assert job["id"] not in {r["id"] for r in beta.get("/v1/runs").json()["runs"]}


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ("{not json", 400, "not valid JSON"),
        ('{"repository": {"path": "REPO"}, "colour": "red"}', 422, "unknown field 'colour'"),
        ('{"task": "x"}', 422, "missing field 'repository'"),
        ('{"repository": {"path": "/etc"}}', 422, "outside the directories"),
        ('{"repository": {"path": "REPO"}, "models": ["nonsense"]}', 422, "KIND:TARGET"),
        (
            '{"repository": {"path": "REPO"}, "models": ["vllm:http://10.0.0.1:8000/v1"]}',
            422,
            "not offered by this server",
        ),
        ('{"repository": {"path": "REPO"}, "edit_format": "x.y:Z"}', 422, "edit format"),
        ('{"repository": {"url": "file:///etc/nothing.git"}}', 422, "outside the directories"),
        ('{"repository": {"url": "https://example.invalid/x.git"}}', 422, "scheme"),
        ('{"repository": {"url": "file://REPO/missing.git"}}', 422, "cannot reach"),
        ('{"repository": {"path": "REPO", "ref": "no-such-branch"}}', 422, "does not exist"),
        ('{"repository": {"path": "REPO"}, "tests": ["a", "b", "c", "d"]}', 413, "at most 3"),
        ('{"repository": {"path": "REPO"}, "budgets": {"timeout": 99999}}', 422, "limit"),
        ('{"repository": {"path": "REPO"}, "test_cmd": "nosuchprogram -x"}', 422, "not found"),
        ('{"repository": {"path": "REPO"}, "apply_to_branch": "main"}', 422, "already exists"),
        ('{"repository": {"path": "REPO"}, "samples": 2}', 422, "needs a model"),
        ('{"repository": {"path": "REPO"}, "sampling": "beam"}', 422, "sampling"),
    ],
)
def test_bad_input_says_what_to_fix_and_queues_nothing(
    setup: dict[str, Any], body: str, status: int, says: str
) -> None:
    server: Server = setup["server"]
    client = server.client(setup["b"])
    before = _count(client)
    response = client.post(
        "/v1/repairs",
        content=body.replace("REPO", str(setup["repo"])),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert says in error["error"]
    assert error["hint"]
    assert _count(client) == before


def test_body_size_limit(setup: dict[str, Any]) -> None:
    server: Server = setup["server"]
    client = server.client(setup["b"])
    before = _count(client)
    response = client.post("/v1/repairs", json=_body(setup["repo"], task="x" * 5000))
    assert response.status_code == 413
    assert "4096 bytes" in response.json()["error"]
    assert _count(client) == before


def test_idempotency_key(setup: dict[str, Any]) -> None:
    server: Server = setup["server"]
    client = server.client(setup["b"])
    body = _body(setup["repo"], task="idempotent")
    first = submit(client, body, **{"Idempotency-Key": "k-1"})
    again = submit(client, body, **{"Idempotency-Key": "k-1"})
    assert again["id"] == first["id"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    other = client.post(
        "/v1/repairs", json={**body, "task": "else"}, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 409
    # The same key from another team is another request.
    alpha = server.client(setup["a"])
    theirs = submit(alpha, body, **{"Idempotency-Key": "k-1"})
    assert theirs["id"] != first["id"]


def test_list_filters_and_pages(setup: dict[str, Any]) -> None:
    server: Server = setup["server"]
    client = server.client(setup["b"])
    made = [submit(client, _body(setup["other"], task=f"page {i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "repository": str(setup["other"])}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/runs", params=params).json()
        seen += [r["id"] for r in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen[: len(made)] == list(reversed(made))
    assert len(seen) == len(set(seen))
    assert client.get("/v1/runs", params={"status": "succeeded"}).json()["runs"] == []
    bad = client.get("/v1/runs", params={"status": "sideways"})
    assert bad.status_code == 422


def test_cancel_a_queued_job(setup: dict[str, Any]) -> None:
    server: Server = setup["server"]
    client = server.client(setup["b"])
    job = submit(client, _body(setup["repo"], task="cancel me"))
    response = client.delete(f"/v1/repairs/{job['id']}")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    view = client.get(f"/v1/repairs/{job['id']}").json()
    assert view["status"] == "cancelled"
    assert view["finished_at"] is not None


def test_rate_limit_per_key(tmp_path: Path, roots: Path) -> None:
    server = Server(tmp_path, roots, workers=0, limits={"rate_per_minute": 1, "burst": 3})
    server.start()
    try:
        token, spare = server.key("t"), server.key("t")
        client = server.client(token)
        codes = [client.get("/v1/runs").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/v1/runs")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert server.client(spare).get("/v1/runs").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("diff", "status", "says"),
    [
        ("", 422, "empty"),
        ("--- a/nothere.py\n+++ b/nothere.py\n@@ -1 +1 @@\n-a\n+b\n", 422, "does not exist"),
        (
            "--- a/invoicing/discounts.py\n+++ b/invoicing/discounts.py\n"
            "@@ -1 +1 @@\n-no such line\n+b\n",
            422,
            "cannot be verified",
        ),
        ("x" * 3000, 413, "bytes"),
    ],
)
def test_verify_refuses_a_diff_it_cannot_verify(
    setup: dict[str, Any], diff: str, status: int, says: str
) -> None:
    server: Server = setup["server"]
    client = server.client(setup["b"])
    before = _count(client)
    response = client.post(
        "/v1/verify", json={"repository": {"path": str(setup["repo"])}, "diff": diff}
    )
    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    assert _count(client) == before
