"""Repairs through a real server with worker processes: result, events, resume, cancel, verify,
metrics, write-back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from patchloop.service._procs import tree
from tests.conftest import git
from tests.service.conftest import (
    events,
    finish,
    first_event,
    quickstart,
    slow_repo,
    submit,
)

pytestmark = pytest.mark.slow

FIXED = "if subtotal >= THRESHOLD:"


def test_repair_of_the_example(server_factory: Any, roots: Path) -> None:
    repo = quickstart(roots)
    server = server_factory(workers=1)
    client = server.client(server.key("alpha"))
    job = submit(client, {"repository": {"path": str(repo)}, "task": "discount one cent late"})
    assert job["status"] == "queued"
    view = finish(client, job["id"])
    assert view["status"] == "succeeded"
    assert view["verdict"] == "verified"
    assert view["fixed_by"] == "fixers"
    assert f"+    {FIXED}" in view["diff"]
    assert view["sandbox_s"] > 0
    assert view["retries"] == 0
    assert view["record"]["status"] == "verified"
    assert view["record"]["id"] == view["run_ids"][0]
    assert Path(server.data_dir, "runs", job["id"], "runs", view["run_ids"][0]).is_dir()
    assert FIXED not in (repo / "invoicing" / "discounts.py").read_text()  # tree untouched

    # The stream replays everything; a client resuming after an id gets exactly the rest.
    stream = events(client, job["id"])
    kinds = [e["kind"] for e in stream]
    assert kinds[0] == "job.queued"
    assert kinds[1] == "job.start"
    assert "baseline.end" in kinds
    assert kinds[-1] == "job.end"
    ids = [e["id"] for e in stream]
    assert ids == sorted(ids)
    middle = stream[len(stream) // 2]["id"]
    assert events(client, job["id"], last_id=middle) == [e for e in stream if e["id"] > middle]
    assert events(client, job["id"], last_id=stream[-1]["id"]) == []

    # Metrics parse with Prometheus' own parser and count the repair.
    text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    repairs = {
        tuple(sorted(s.labels.items())): s.value
        for s in families["patchloop_repairs"].samples
        if s.name == "patchloop_repairs_total"
    }
    assert repairs[(("status", "succeeded"), ("tier", "fixers"), ("verdict", "verified"))] == 1
    verdict = families["patchloop_time_to_verdict_seconds"].samples
    count = next(
        s.value for s in verdict if s.name.endswith("_count") and s.labels == {"kind": "repair"}
    )
    assert count == 1
    assert "patchloop_queue_depth" in families
    assert "patchloop_model_latency_seconds" in families
    slo = client.get("/v1/slo").json()
    by_name = {o["name"]: o for o in slo["objectives"]}
    assert by_name["verified_share"]["current"] == 1.0
    assert by_name["time_to_verdict"]["events"] == 1


def test_cancel_a_running_repair_kills_its_processes(server_factory: Any, roots: Path) -> None:
    repo = slow_repo(roots)
    server = server_factory(workers=1)
    client = server.client(server.key("alpha"))
    job = submit(client, {"repository": {"path": str(repo)}})
    first_event(client, job["id"], "baseline.start")
    with server.db() as db:
        worker = db.execute("SELECT worker FROM jobs WHERE id = ?", (job["id"],)).fetchone()[0]
    pid = _worker_pid(server, worker)
    assert len(tree(pid)) > 1  # the job process (and its tests) run under the worker
    response = client.delete(f"/v1/repairs/{job['id']}")
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True
    view = finish(client, job["id"])
    assert view["status"] == "cancelled"
    assert view["record"] is not None  # the record is kept
    assert view["record"]["stop_reason"] == "interrupted"
    assert tree(pid) == [pid]  # nothing of the job is left running
    assert events(client, job["id"])[-1]["kind"] == "job.end"


def _worker_pid(server: Any, worker: str) -> int:
    from patchloop.service._procs import children_of

    assert server.proc is not None
    for pid in children_of(server.proc.pid):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--name" in cmdline and cmdline[cmdline.index(b"--name") + 1].decode() == worker:
            return pid
    raise AssertionError(f"no worker {worker}")


def test_verify_a_diff(server_factory: Any, roots: Path) -> None:
    repo = quickstart(roots)
    source = repo / "invoicing" / "discounts.py"
    original = source.read_text()
    source.write_text(original.replace("if subtotal > THRESHOLD:", FIXED))
    good = git(repo, "diff")
    source.write_text(original.replace("return percent(subtotal, RATE)", "return 0"))
    bad = git(repo, "diff")
    source.write_text(original)
    server = server_factory(workers=1)
    client = server.client(server.key("alpha"))
    target = "tests/test_invoice.py::test_discount_applies_from_one_hundred"

    passed = client.post("/v1/verify", json={"repository": {"path": str(repo)}, "diff": good})
    assert passed.status_code == 200, passed.text
    body = passed.json()
    assert (body["status"], body["verdict"]) == ("succeeded", "passed")
    outcomes = {t["nodeid"]: t["outcome"] for t in body["tests"]}
    assert outcomes[target] == "passed"
    assert len(outcomes) > 5

    failed = client.post(
        "/v1/verify", json={"repository": {"path": str(repo)}, "diff": bad, "tests": [target]}
    ).json()
    assert failed["verdict"] == "failed"
    assert [(t["nodeid"], t["outcome"]) for t in failed["tests"]] == [(target, "failed")]

    # The guard of a repair: a diff that edits the tests is refused before anything runs.
    test_file = repo / "tests" / "test_invoice.py"
    test_file.write_text(test_file.read_text() + "\n# tampered\n")
    tampered = git(repo, "diff", "--", "tests")
    git(repo, "checkout", "--", "tests")
    refused = client.post("/v1/verify", json={"repository": {"path": str(repo)}, "diff": tampered})
    assert refused.status_code == 422
    assert "tests" in refused.json()["error"]
    # From a git URL at a ref the check happens in the worker: verdict "rejected".
    via_url = client.post(
        "/v1/verify",
        json={"repository": {"url": f"file://{repo}", "ref": "main"}, "diff": tampered},
    ).json()
    assert (via_url["status"], via_url["verdict"]) == ("succeeded", "rejected")
    text = client.get("/metrics").text
    verifies = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "patchloop_verify_requests_total"
    ]
    assert sum(s.value for s in verifies) == 3


def test_repair_from_a_git_url_and_write_back_to_a_branch(server_factory: Any, roots: Path) -> None:
    repo = quickstart(roots)
    server = server_factory(workers=1)
    client = server.client(server.key("alpha"))
    cloned = submit(client, {"repository": {"url": f"file://{repo}", "ref": "main"}})
    branch = submit(client, {"repository": {"path": str(repo)}, "apply_to_branch": "fix/late"})
    view = finish(client, cloned["id"])
    assert view["verdict"] == "verified"
    assert view["repository"] == f"file://{repo}"
    written = finish(client, branch["id"])
    assert written["verdict"] == "verified"
    assert "fix/late" in written["write_back"]
    assert FIXED in git(repo, "show", "fix/late:invoicing/discounts.py")
    assert git(repo, "branch", "--show-current").strip() == "main"


GOOD_REPLY = """invoicing/discounts.py
<<<<<<< SEARCH
    if subtotal > THRESHOLD:
=======
    if subtotal >= THRESHOLD:
>>>>>>> REPLACE
"""


def test_repair_by_an_offered_model(server_factory: Any, roots: Path, tmp_path: Path) -> None:
    repo = quickstart(roots)
    replies = tmp_path / "replies.jsonl"
    wrong = GOOD_REPLY.replace(">= THRESHOLD", "> THRESHOLD - 1")
    replies.write_text(json.dumps(wrong) + "\n" + json.dumps(GOOD_REPLY) + "\n")
    spec = f"scripted:{replies}"
    server = server_factory(workers=1, models=[spec])
    client = server.client(server.key("alpha"))
    body = {
        "repository": {"path": str(repo)},
        "task": "the discount starts one cent late",
        "models": [spec],
        "fixers": False,
    }
    view = finish(client, submit(client, body)["id"])
    assert view["verdict"] == "verified"
    assert view["fixed_by"] == spec
    assert view["usage"]["prompt_tokens"] > 0
    assert [a["status"] for a in view["record"]["attempts"]] == ["tests_failed", "verified"]
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    calls = {
        s.labels["backend"]: s.value
        for s in families["patchloop_model_latency_seconds"].samples
        if s.name.endswith("_count")
    }
    assert calls == {"scripted": 2}
    errors = {s.labels["backend"]: s.value for s in families["patchloop_model_errors"].samples}
    assert errors == {"scripted": 0}
    tokens = {s.labels["type"]: s.value for s in families["patchloop_tokens"].samples}
    assert tokens["prompt"] == view["usage"]["prompt_tokens"]

    # Samples are candidates of one model call: with one call, the wrong and the right reply
    # are both candidates, and the tests choose the right one.
    sampled = {**body, "samples": 2, "budgets": {"max_iterations": 1}}
    view = finish(client, submit(client, sampled)["id"])
    assert view["verdict"] == "verified"
    assert len(view["run_ids"]) == 1
    attempts = view["record"]["attempts"]
    assert [a["sample"] for a in attempts] == [0, 1]
    assert attempts[1]["status"] == "verified"


def test_repairs_of_one_state_share_its_template_within_a_team(
    server_factory: Any, roots: Path
) -> None:
    repo = quickstart(roots)
    server = server_factory(workers=1)
    alpha = server.client(server.key("alpha"))
    beta = server.client(server.key("beta"))
    body = {"repository": {"path": str(repo)}, "task": "discount one cent late"}
    views = [finish(c, submit(c, body)["id"]) for c in (alpha, alpha, beta)]
    assert [v["verdict"] for v in views] == ["verified"] * 3
    first, second, other = (v["record"] for v in views)
    assert first["baseline_reused"] is None
    # The second repair of the team reused the first one's baseline; no baseline test ran.
    assert second["baseline_reused"] is not None
    kinds = [e["kind"] for e in events(alpha, views[1]["id"])]
    assert "baseline.cached" in kinds
    assert "baseline.start" not in kinds
    assert second["diff"] == first["diff"]
    # Another team's repair of the same repository prepares its own.
    assert other["baseline_reused"] is None
    templates = server.data_dir / "templates"
    assert sorted(p.name for p in templates.iterdir()) == ["alpha", "beta"]
