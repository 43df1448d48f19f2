from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchloop.domain import Completion, Event, Message, RunRecord, Task, Usage
from patchloop.errors import UsageError
from patchloop.store import RunStore, new_run_id


def _record(run_id: str, tmp_path: Path) -> RunRecord:
    return RunRecord(
        id=run_id,
        created_at="2026-01-01T00:00:00+00:00",
        status="not_fixed",
        task=Task(repo=tmp_path),
        usage=Usage(prompt_tokens=3),
    )


def test_write_and_read_back(tmp_path: Path) -> None:
    store = RunStore(tmp_path / ".patchloop")
    run_id = new_run_id()
    writer = store.create(run_id)
    writer.event(Event(t=0.1, kind="run.start"))
    writer.event(Event(t=0.2, kind="baseline.end", data={"failing": 1}))
    writer.attempt_files(
        1,
        messages=[Message(role="user", content="hi")],
        completion=Completion(text="reply", usage=Usage(prompt_tokens=1)),
        diff="diff --git a/x b/x\n",
        feedback="tests failed",
    )
    writer.checkpoint(_record(run_id, tmp_path))
    writer.close()
    assert (tmp_path / ".patchloop" / ".gitignore").read_text() == "*\n"
    assert store.ids() == [run_id]
    assert store.load(run_id[:12]).usage.prompt_tokens == 3
    assert store.completions(run_id)[1].text == "reply"
    lines = (store.path(run_id) / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["run.start", "baseline.end"]
    prompt = json.loads((store.path(run_id) / "attempts/001/prompt.json").read_text())
    assert prompt == [{"role": "user", "content": "hi"}]


def test_unknown_and_ambiguous_ids(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    for run_id in ("20260101-000000-aaaaaa", "20260101-000000-aaaaab"):
        writer = store.create(run_id)
        writer.checkpoint(_record(run_id, tmp_path))
        writer.close()
    with pytest.raises(UsageError, match="no run"):
        store.path("nope")
    with pytest.raises(UsageError, match="ambiguous"):
        store.path("20260101-000000-aaaaa")


def test_unwritable_state_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot write run records"):
        RunStore(blocker / "state").create("x")


@pytest.mark.parametrize("where", [".", "pkg"])
def test_a_state_dir_holding_other_files_is_refused(tmp_path: Path, where: str) -> None:
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "mod.py").write_text("X = 1\n")
    (project / "README").write_text("hi\n")
    state = project / where
    with pytest.raises(UsageError, match="already holds other files") as info:
        RunStore(state).create(new_run_id())
    assert "state_dir" in str(info.value.hint)
    assert not (state / ".gitignore").exists()
    assert not (state / "runs").exists()


def test_a_state_dir_of_its_own_is_reused(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "new" / "state")
    store.create("20260101-000000-aaaaaa").close()
    store.create("20260101-000000-aaaaab").close()
    assert (tmp_path / "new" / "state" / ".gitignore").read_text() == "*\n"
    assert sorted(p.name for p in (tmp_path / "new" / "state").iterdir()) == [".gitignore", "runs"]
