"""``patchloop route`` through a real subprocess: plan output, training, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from patchloop.route import IntentClassifier, load_head

# Registers the route commands exactly as the application does, then runs the real entry point
# (which maps errors to exit codes).
RUN = """
import sys
from patchloop.cli import app, main
from patchloop.cli import route_cmd
if not any(group.name == "route" for group in app.registered_groups):
    app.add_typer(route_cmd.app, name="route")
main(sys.argv[1:])
"""


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(cache_home: Path, tmp_path: Path) -> Cli:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", RUN, "route", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
            check=False,
        )

    return run


def test_route_prints_intent_confidence_and_plan(cli: Cli, classifier: IntentClassifier) -> None:
    done = cli(
        "Add support for exporting invoices as PDF",
        "--model",
        "scripted:small",
        "--model",
        "scripted:large",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("intent: feature (confidence 0.")
    assert lines[0].endswith(", model)")
    assert "  1. scripted:small: 5 iterations" in lines
    assert "  2. scripted:large: 5 iterations" in lines
    assert not any("fixers" in line for line in lines)


def test_route_json(cli: Cli, classifier: IntentClassifier) -> None:
    text = "ZeroDivisionError: division by zero in average() when the list is empty"
    done = cli("plan", text, "--json", "--model", "scripted:a")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["intent"] == "crash"
    assert data["basis"] == "model"
    assert 0.4 <= data["confidence"] <= 1.0
    assert [t["name"] for t in data["plan"]["tiers"]] == ["fixers", "scripted:a"]
    assert data["plan"]["tiers"][0]["max_iterations"] == 300
    assert set(data["probabilities"]) >= {"crash", "feature", "question"}


def test_route_without_models_shows_the_intent_and_plans_the_fixers(
    cli: Cli, classifier: IntentClassifier
) -> None:
    done = cli("Add support for exporting invoices as PDF", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["intent"], data["basis"], data["policy"]) == ("feature", "no_models", "default")
    assert 0.4 <= data["confidence"] < 1.0
    assert set(data["probabilities"]) >= {"crash", "feature", "question"}
    assert [t["name"] for t in data["plan"]["tiers"]] == ["fixers"]


def test_route_without_models_prints_intent_confidence_and_plan(
    cli: Cli, classifier: IntentClassifier
) -> None:
    done = cli("ZeroDivisionError: division by zero in average() when the list is empty")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("intent: crash (confidence 0.")
    assert lines[0].endswith(", no_models)")
    assert "policy: default" in lines
    assert any(line.startswith("note: no model configured") for line in lines)
    tiers = [line for line in lines if line.startswith("  ")]
    assert len(tiers) == 1
    assert tiers[0].startswith("  1. fixers: 300 candidates")
    assert any(line.startswith("likely: crash ") for line in lines)


@pytest.mark.parametrize("spec", ["bogus:foo", "no-colon", "http://127.0.0.1:8000/v1"])
def test_route_rejects_a_model_spec_fix_rejects(cli: Cli, spec: str) -> None:
    done = cli("Add a --json flag", "--model", "scripted:a", "--model", spec)
    assert done.returncode == 2, done.stdout
    assert done.stdout == ""
    assert "patchloop: error: " in done.stderr
    assert repr(spec) in done.stderr


def test_route_names_the_unknown_kind_and_the_valid_ones(cli: Cli) -> None:
    done = cli("Add a --json flag", "--model", "bogus:foo")
    assert done.returncode == 2
    assert "unknown model kind 'bogus'" in done.stderr
    assert "valid kinds: " in done.stderr
    assert "scripted" in done.stderr


def test_empty_text_is_a_usage_error(cli: Cli) -> None:
    done = cli("  ", "--model", "scripted:a")
    assert done.returncode == 2
    assert "the task text is empty" in done.stderr


def test_train_writes_a_loadable_head(
    cli: Cli, classifier: IntentClassifier, tmp_path: Path
) -> None:
    rows = [("Add a --verbose flag", "feature"), ("Support YAML config", "feature")]
    rows += [("KeyError: 'id' in load()", "crash"), ("ZeroDivisionError in mean()", "crash")]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": t, "intent": i}) + "\n" for t, i in rows))
    done = cli("train", str(data), "--out", "h.json", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["classes"] == ["crash", "feature"]
    assert summary["examples"] == 4
    assert load_head(tmp_path / "h.json").classes == ("crash", "feature")


def test_train_reports_the_bad_line(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a", "intent": "crash"}\n{"text": "b"}\n')
    done = cli("train", str(data))
    assert done.returncode == 2
    assert "d.jsonl:2: bad example: intent: Field required" in done.stderr
    assert not (tmp_path / "intent-head.json").exists()


def test_help_lists_both_commands(cli: Cli) -> None:
    done = cli("--help")
    assert done.returncode == 0, done.stderr
    assert "plan" in done.stdout
    assert "train" in done.stdout
