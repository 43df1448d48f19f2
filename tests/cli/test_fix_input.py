"""``patchloop fix`` on questionable input: test ids, broken suites, flaky tests, write-back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from patchloop.cli import main
from tests.cli.test_cli import FIX_REPLY, WRONG, cli, fix, replies
from tests.conftest import git, tree_state


def test_unknown_test_id_is_a_usage_error(calc_repo: Path, tmp_path: Path) -> None:
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--test", "test_calc.py::test_clam_high")
    assert proc.returncode == 2, proc.stderr
    assert "no such test: test_calc.py::test_clam_high" in proc.stderr
    assert "did you mean test_calc.py::test_clamp_high" in proc.stderr


@pytest.mark.parametrize("spelling", ["./test_calc.py::test_clamp_high", "abs"])
def test_test_ids_are_normalized(spelling: str, calc_repo: Path, tmp_path: Path) -> None:
    if spelling == "abs":
        spelling = f"{calc_repo / 'test_calc.py'}::test_clamp_high"
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--test", spelling, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["targets"] == ["test_calc.py::test_clamp_high"]


def test_suite_that_cannot_import_is_an_environment_error(
    repo_factory: Any, tmp_path: Path
) -> None:
    repo = repo_factory(
        "noimport",
        {
            "lib.py": "def f():\n    return 1\n",
            "test_lib.py": "import not_installed_anywhere\n\n\ndef test_f():\n    assert 1\n",
        },
    )
    proc = fix(repo, replies(tmp_path, FIX_REPLY))
    assert proc.returncode == 2, proc.stderr
    assert "No module named 'not_installed_anywhere'" in proc.stderr
    assert "the environment or the test command" in proc.stderr


def test_broken_source_module_is_still_a_task(repo_factory: Any, tmp_path: Path) -> None:
    # A syntax error in the code under test fails collection too, but a patch can fix it.
    repo = repo_factory(
        "syntax",
        {
            "lib.py": "def f(:\n    return 1\n",
            "test_lib.py": "from lib import f\n\n\ndef test_f():\n    assert f() == 1\n",
        },
    )
    reply = "lib.py\n<<<<<<< SEARCH\ndef f(:\n=======\ndef f():\n>>>>>>> REPLACE\n"
    proc = fix(repo, replies(tmp_path, reply))
    assert proc.returncode == 0, proc.stderr
    assert "+def f():" in proc.stdout


def test_only_flaky_failures_are_reported_as_such(repo_factory: Any, tmp_path: Path) -> None:
    # Fails on every other run of the suite: the baseline's repeated runs disagree.
    flaky = (
        "from pathlib import Path\n\n\n"
        "def test_sometimes(tmp_path_factory):\n"
        f"    mark = Path({str(tmp_path / 'count')!r})\n"
        "    n = int(mark.read_text()) if mark.exists() else 0\n"
        "    mark.write_text(str(n + 1))\n"
        "    assert n % 2 == 1\n"
    )
    repo = repo_factory("flaky", {"test_flaky.py": flaky, "lib.py": "X = 1\n"})
    proc = cli(
        "fix", "--repo", str(repo), "--json", "--config", str(_local_sandbox_config(tmp_path))
    )
    assert proc.returncode == 3, proc.stderr
    data = json.loads(proc.stdout)
    assert data["flaky"] == ["test_flaky.py::test_sometimes"]
    assert "the only failing tests are flaky" in data["error"]
    assert "test_flaky.py::test_sometimes" in data["error"]


def _local_sandbox_config(tmp_path: Path) -> Path:
    # The counter file lives outside the copy, which only the local sandbox lets a test reach.
    path = tmp_path / "local.toml"
    path.write_text('[sandbox]\nkind = "local"\n')
    return path


def test_flaky_tests_are_in_the_record(repo_factory: Any, tmp_path: Path) -> None:
    files = {
        "calc.py": "def double(x):\n    return x + x + 1\n",
        "test_calc.py": (
            "from pathlib import Path\nfrom calc import double\n\n\n"
            "def test_double():\n    assert double(2) == 4\n\n\n"
            "def test_sometimes():\n"
            f"    mark = Path({str(tmp_path / 'count')!r})\n"
            "    n = int(mark.read_text()) if mark.exists() else 0\n"
            "    mark.write_text(str(n + 1))\n"
            "    assert n % 2 == 1\n"
        ),
    }
    repo = repo_factory("flaky2", files)
    reply = (
        "calc.py\n<<<<<<< SEARCH\n    return x + x + 1\n=======\n"
        "    return x + x\n>>>>>>> REPLACE\n"
    )
    proc = cli(
        "fix",
        "--repo",
        str(repo),
        "--no-fixers",
        "--model",
        replies(tmp_path, reply),
        "--json",
        "--config",
        str(_local_sandbox_config(tmp_path)),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["flaky"] == ["test_calc.py::test_sometimes"]
    assert data["targets"] == ["test_calc.py::test_double"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--edit-format", "bogus", "unknown edit format"),
        ("--branch", "bad..name", "not a valid branch name"),
        ("--branch", "taken", "already exists"),
        ("--max-iterations", "-3", "greater than or equal to 1"),
        ("--timeout", "0", "greater than 0"),
    ],
)
def test_bad_options_fail_before_any_work(
    option: str, value: str, message: str, calc_repo: Path, tmp_path: Path
) -> None:
    git(calc_repo, "branch", "taken")
    before = tree_state(calc_repo)
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY), option, value, "--json")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert json.loads(proc.stdout)["status"] == "error"
    assert tree_state(calc_repo) == before
    assert not (calc_repo / ".patchloop").exists()


def test_unknown_sandbox_names_auto_too(calc_repo: Path, tmp_path: Path) -> None:
    # The sandbox kind is the user's choice (a repository's own config cannot set it).
    user = tmp_path / "user.toml"
    user.write_text('[sandbox]\nkind = "bogus"\n')
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--config", str(user))
    assert proc.returncode == 2, proc.stderr
    assert "valid names: auto, " in proc.stderr
    assert not (calc_repo / ".patchloop").exists()


def test_apply_refuses_a_tree_changed_during_the_run(
    calc_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import patchloop.cli.fix as fix_module

    real_repair = fix_module.repair

    def repair_then_edit(*args: Any, **kwargs: Any) -> Any:
        record = real_repair(*args, **kwargs)
        # The user keeps working while the run goes on.
        (calc_repo / "calc.py").write_text((calc_repo / "calc.py").read_text() + "\n# edited\n")
        return record

    monkeypatch.setattr(fix_module, "repair", repair_then_edit)
    spec = replies(tmp_path, WRONG, FIX_REPLY)
    argv = ["fix", "--repo", str(calc_repo), "--model", spec, "--no-fixers", "--apply"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert "changed" in err
    # The verified diff is not lost: it is printed, with the record's path.
    assert out.startswith("diff --git a/calc.py b/calc.py")
    assert "run record:" in err
    assert (calc_repo / "calc.py").read_text().endswith("# edited\n")
    assert "return low\n    return value" in (calc_repo / "calc.py").read_text()


def test_samples_verified_by_workers_through_the_cli(calc_repo: Path, tmp_path: Path) -> None:
    proc = fix(calc_repo, replies(tmp_path, WRONG, FIX_REPLY), "--samples", "2", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    zero = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--workers", "0")
    assert zero.returncode == 2
    assert "workers" in zero.stderr
