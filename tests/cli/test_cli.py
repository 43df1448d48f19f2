"""The command line through a real subprocess: exit codes, JSON output, write-back, bad input."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CALC, FIX_REPLY, git, tree_state

WRONG = FIX_REPLY.replace("return high", "return value")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchloop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def replies(tmp_path: Path, *texts: str) -> str:
    path = tmp_path / "replies.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in texts))
    return f"scripted:{path}"


def fix(repo: Path, spec: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("fix", "--repo", str(repo), "--model", spec, "--no-fixers", *extra)


def test_verified_prints_the_diff(calc_repo: Path, tmp_path: Path) -> None:
    before = tree_state(calc_repo)
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("diff --git a/calc.py b/calc.py")
    assert "+        return high" in proc.stdout
    assert "verified fix" in proc.stderr
    assert tree_state(calc_repo) == before
    assert git(calc_repo, "status", "--porcelain") == ""


def test_json_summary(calc_repo: Path, tmp_path: Path) -> None:
    proc = fix(calc_repo, replies(tmp_path, WRONG, FIX_REPLY), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["verified"] is True
    assert data["attempts"] == 2
    assert data["fixed_by"].startswith("scripted:")
    assert data["usage"]["prompt_tokens"] > 0
    assert Path(data["record_dir"], "record.json").is_file()


def test_not_fixed_exits_1(calc_repo: Path, tmp_path: Path) -> None:
    proc = fix(calc_repo, replies(tmp_path, WRONG), "--max-iterations", "1")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert "not fixed" in proc.stderr
    assert "best attempt (NOT verified)" in proc.stderr


def test_nothing_to_fix_exits_3(calc_repo: Path, tmp_path: Path) -> None:
    (calc_repo / "calc.py").write_text(
        CALC.replace("return low\n    return", "return high\n    return")
    )
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY))
    assert proc.returncode == 3, proc.stderr
    assert "nothing to fix" in proc.stderr


def test_apply_writes_the_fix(calc_repo: Path, tmp_path: Path) -> None:
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--apply")
    assert proc.returncode == 0, proc.stderr
    assert "return high" in (calc_repo / "calc.py").read_text()
    assert "applied to 1 file" in proc.stderr


def test_branch_commits_the_fix(calc_repo: Path, tmp_path: Path) -> None:
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--branch", "patchloop/clamp")
    assert proc.returncode == 0, proc.stderr
    assert "return high" in git(calc_repo, "show", "patchloop/clamp:calc.py")
    assert (calc_repo / "calc.py").read_text() == CALC
    assert git(calc_repo, "status", "--porcelain") == ""


def test_runs_list_show_replay(calc_repo: Path, tmp_path: Path) -> None:
    proc = fix(calc_repo, replies(tmp_path, "nonsense", FIX_REPLY), "--json")
    run_id = json.loads(proc.stdout)["run_id"]
    listed = cli("runs", "list", "--repo", str(calc_repo), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [run_id]
    shown = cli("runs", "show", run_id[:15], "--repo", str(calc_repo))
    assert shown.returncode == 0, shown.stderr
    assert "parse_error" in shown.stdout
    assert "verified" in shown.stdout
    replayed = cli("runs", "replay", run_id, "--repo", str(calc_repo), "--json")
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["same"] is True


def test_a_reused_baseline_is_shown(
    calc_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHLOOP_TESTS__TEMPLATE_CACHE", str(tmp_path / "templates"))
    first = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["baseline_reused"] is None
    second = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--json")
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["baseline_reused"]
    shown = cli("runs", "show", summary["run_id"], "--repo", str(calc_repo))
    assert "baseline: reused from a prepared template" in shown.stdout
    plain = cli("runs", "show", json.loads(first.stdout)["run_id"], "--repo", str(calc_repo))
    assert "baseline: reused" not in plain.stdout


def test_config_show(calc_repo: Path) -> None:
    (calc_repo / "patchloop.toml").write_text("max_iterations = 9\n")
    proc = cli("config", "show", "--repo", str(calc_repo), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["max_iterations"]["value"] == 9
    assert data["max_iterations"]["source"].startswith("file:")
    assert data["timeout"]["source"] == "default"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not_git", "not inside a git work tree"),
        ("missing", "does not exist"),
        ("unknown_model", "unknown model kind"),
        ("unreachable", "cannot reach the model server"),
        ("no_test_cmd", "test command not found"),
        ("bad_config", "unknown configuration key"),
        ("bad_replies", "cannot read scripted replies"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    case: str, message: str, calc_repo: Path, tmp_path: Path
) -> None:
    repo = calc_repo
    spec = replies(tmp_path, FIX_REPLY)
    extra: list[str] = []
    if case == "not_git":
        repo = tmp_path / "plain"
        repo.mkdir()
    elif case == "missing":
        repo = tmp_path / "nowhere"
    elif case == "unknown_model":
        spec = "gpt:whatever"
    elif case == "unreachable":
        spec = f"openai:http://127.0.0.1:{_closed_port()}/v1#m"
    elif case == "no_test_cmd":
        extra = ["--test-cmd", "no-such-test-runner --x"]
    elif case == "bad_config":
        (calc_repo / "patchloop.toml").write_text("max_iteration = 3\n")
    elif case == "bad_replies":
        spec = f"scripted:{tmp_path / 'absent.jsonl'}"
    before = tree_state(calc_repo)
    proc = fix(repo, spec, *extra)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("patchloop: error:") == 1
    assert tree_state(calc_repo) == before
    assert not (calc_repo / ".patchloop").exists()


def test_usage_errors_from_the_parser(calc_repo: Path) -> None:
    proc = cli("fix", "--repo", str(calc_repo), "--max-iterations", "many")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    proc = cli("fix", "--repo", str(calc_repo), "--apply", "--branch", "x")
    assert proc.returncode == 2
    assert "exclude each other" in proc.stderr
