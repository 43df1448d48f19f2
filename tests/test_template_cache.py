"""Runs of an already prepared repository state reuse its baseline and coverage
(``tests.template_cache``); a changed tree, a repository's own config and a replay do not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patchloop.config import Config, FixerSettings, TestSettings, load_config
from patchloop.domain import Event, RunRecord, Task
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel
from patchloop.replay import replay_run
from patchloop.store import RunStore
from tests.conftest import FIX_REPLY, git


def config(templates: Path | None) -> Config:
    return Config(
        models=("scripted:a",),
        max_iterations=3,
        fixers=FixerSettings(enabled=False),
        tests=TestSettings(template_cache=str(templates) if templates else None),
    )


def run(repo: Path, cfg: Config) -> tuple[RunRecord, list[str]]:
    seen: list[Event] = []
    model = ScriptedModel([FIX_REPLY], name="scripted:a")
    record = repair(Task(repo=repo), cfg, models=[model], on_event=seen.append)
    return record, [e.kind for e in seen]


def test_a_second_run_of_the_same_state_reuses_baseline_and_coverage(
    calc_repo: Path, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    first, kinds = run(calc_repo, config(templates))
    assert first.status == "verified"
    assert "baseline.start" in kinds
    assert "baseline.cached" not in kinds
    assert first.baseline_reused is None
    assert first.timings["baseline"] > 0
    assert first.timings["coverage"] > 0
    assert len(list(templates.glob("*.json"))) == 1

    second, kinds = run(calc_repo, config(templates))
    assert "baseline.cached" in kinds
    assert "baseline.start" not in kinds  # no baseline test ran
    assert second.baseline_reused is not None
    assert "coverage" not in second.timings  # nor the coverage run
    assert second.timings["baseline"] < first.timings["baseline"]
    assert second.sandbox_s < first.sandbox_s
    # The same answer: the same targets, regressions, and verified fix.
    assert second.status == "verified"
    assert second.diff == first.diff
    assert second.targets == first.targets
    assert second.baseline_passing == first.baseline_passing
    stored = RunStore(calc_repo / ".patchloop").load(second.id)
    assert stored.baseline_reused == second.baseline_reused

    # A changed file is another repository state.
    with (calc_repo / "calc.py").open("a") as file:
        file.write("\n\n# touched\n")
    third, kinds = run(calc_repo, config(templates))
    assert "baseline.start" in kinds
    assert "baseline.cached" not in kinds
    assert third.baseline_reused is None
    assert third.status == "verified"
    assert len(list(templates.glob("*.json"))) == 2


def test_a_repository_config_cannot_turn_the_cache_on(calc_repo: Path, tmp_path: Path) -> None:
    templates = tmp_path / "chosen-by-the-repository"
    (calc_repo / "patchloop.toml").write_text(f'[tests]\ntemplate_cache = "{templates}"\n')
    git(calc_repo, "add", "patchloop.toml")
    git(calc_repo, "commit", "-q", "-m", "config")
    resolved = load_config(calc_repo, environ={})
    assert "tests.template_cache" in resolved.ignored
    assert resolved.config.tests.template_cache is None
    cfg = resolved.config.model_copy(
        update={"models": ("scripted:a",), "fixers": FixerSettings(enabled=False)}
    )
    for _ in range(2):
        record, kinds = run(calc_repo, cfg)
        assert record.status == "verified"
        assert "baseline.cached" not in kinds
    assert not templates.exists()


def test_a_replay_runs_the_baseline_again(calc_repo: Path, tmp_path: Path) -> None:
    cfg = config(tmp_path / "templates")
    run(calc_repo, cfg)
    second, _ = run(calc_repo, cfg)
    assert second.baseline_reused is not None  # the cache answers plain runs
    seen: list[Any] = []
    result = replay_run(
        RunStore(calc_repo / ".patchloop"), second.id, on_event=seen.append, trusted=cfg
    )
    kinds = [e.kind for e in seen]
    assert "baseline.start" in kinds
    assert "baseline.cached" not in kinds
    assert result.replay.baseline_reused is None
    assert result.replay.timings["coverage"] > 0
    assert result.same, result.differences
