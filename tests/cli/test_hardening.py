"""``patchloop`` on hostile or odd input, end to end: state directories, non-finite numbers,
every exit path under ``--json``, SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.cli.test_cli import cli, fix, replies
from tests.conftest import FIX_REPLY, git, tree_state


@pytest.mark.parametrize("state_dir", [".", "calcpkg"])
def test_state_dir_inside_the_source_tree_is_refused(
    state_dir: str, repo_factory: object, tmp_path: Path
) -> None:
    from tests.conftest import CALC, PYTEST_INI, TEST_CALC

    repo = repo_factory(  # type: ignore[operator]
        "calc",
        {
            "calc.py": CALC,
            "test_calc.py": TEST_CALC,
            "pytest.ini": PYTEST_INI,
            "calcpkg/__init__.py": "",
        },
    )
    before = tree_state(repo)
    proc = subprocess.run(
        [sys.executable, "-m", "patchloop", "fix", "--repo", str(repo), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATCHLOOP_STATE_DIR": state_dir},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "already holds other files" in proc.stderr
    assert json.loads(proc.stdout)["status"] == "error"
    assert not (repo / state_dir / ".gitignore").exists()
    assert tree_state(repo) == before
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_timeout_is_a_usage_error(value: str, calc_repo: Path, tmp_path: Path) -> None:
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--timeout", value, "--json")
    assert proc.returncode == 2, proc.stderr
    assert "finite number" in proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == 2
    assert not (calc_repo / ".patchloop").exists()


def test_config_show_json_is_standard_json(calc_repo: Path) -> None:
    (calc_repo / "patchloop.toml").write_text("timeout = inf\n")
    proc = cli("config", "show", "--repo", str(calc_repo), "--json")
    assert proc.returncode == 2
    assert "Infinity" not in proc.stdout
    json.loads(proc.stdout)  # the error object, strict JSON


def test_replay_of_a_record_holding_infinity_is_a_clear_error(
    calc_repo: Path, tmp_path: Path
) -> None:
    proc = fix(calc_repo, replies(tmp_path, FIX_REPLY), "--json")
    assert proc.returncode == 0, proc.stderr
    record_dir = Path(json.loads(proc.stdout)["record_dir"])
    path = record_dir / "record.json"
    # What earlier versions wrote for --timeout inf.
    path.write_text(path.read_text().replace('"timeout": 1800.0', '"timeout": Infinity'))
    replay = cli("runs", "replay", record_dir.name, "--repo", str(calc_repo), "--json")
    assert replay.returncode == 2, replay.stderr
    assert "Traceback" not in replay.stderr
    assert json.loads(replay.stdout)["status"] == "error"


@pytest.mark.parametrize(
    "args",
    [
        ["fix", "--max-iterations", "many", "--json"],
        ["fix", "--no-such-option", "--json"],
        ["runs", "show", "--json"],
        ["eval", "--json"],
    ],
)
def test_json_error_object_on_option_parsing_errors(args: list[str], calc_repo: Path) -> None:
    proc = cli(*args, cwd=calc_repo)
    assert proc.returncode == 2, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "error"
    assert data["exit_code"] == 2
    assert data["error"]


SLOW_TEST = """\
import os
import time
from pathlib import Path


def test_slow():
    Path(os.environ.get("MARK", "/nonexistent-dir/x")).parent.mkdir(exist_ok=True)
    time.sleep(600)
"""


def _run_then_signal(
    repo: Path, scratch: Path, signum: int, spec: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Start ``fix --json`` with scratch space under ``scratch``; signal it once the baseline's
    tests run; return its result and the state directory."""
    code = (
        "import sys, pathlib\n"
        "import patchloop.sandbox._fs as fs\n"
        f"fs.SHM = pathlib.Path({str(scratch)!r})\n"
        "from patchloop.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "fix", "--repo", str(repo), "--json", "--model", spec],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    state = repo / ".patchloop" / "runs"
    for _ in range(6000):  # until the baseline started (the test then sleeps for 600s)
        events = list(state.glob("*/events.jsonl"))
        if (events and "baseline.start" in events[0].read_text()) or proc.poll() is not None:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # let the test process start
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), state


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_finish_the_record_and_remove_scratch_space(
    signum: int, code: int, repo_factory: object, tmp_path: Path
) -> None:
    repo = repo_factory("slow", {"test_slow.py": SLOW_TEST, "lib.py": "X = 1\n"})  # type: ignore[operator]
    # Scratch space of the run's own: readable by the sandbox's uid, as /dev/shm is.
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=shm if shm.is_dir() else tmp_path))
    scratch.chmod(0o755)
    try:
        proc, state = _run_then_signal(repo, scratch, signum, replies(tmp_path, FIX_REPLY))
        left = sorted(p.name for p in scratch.iterdir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert proc.returncode == code, proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == code
    (record_path,) = state.glob("*/record.json")
    record = json.loads(record_path.read_text())
    assert record["stop_reason"] == "interrupted"
    assert record["status"] == "error"
    assert left == []


CLASS_TESTS = """\
from calc import clamp


class TestClamp:
    def test_high(self):
        assert clamp(50, 0, 10) == 10

    def test_inside(self):
        assert clamp(5, 0, 10) == 5
"""


@pytest.mark.parametrize("target", ["tests/test_calc.py::TestClamp", "tests", "tests/"])
def test_a_class_or_directory_target_can_verify(
    target: str, repo_factory: object, tmp_path: Path
) -> None:
    from tests.conftest import CALC, PYTEST_INI

    repo = repo_factory(  # type: ignore[operator]
        "classes",
        {"calc.py": CALC, "tests/test_calc.py": CLASS_TESTS, "pytest.ini": PYTEST_INI},
    )
    proc = fix(repo, replies(tmp_path, FIX_REPLY), "--test", target, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["verified"] is True
    assert data["targets"] == [target.rstrip("/")]


def _endings(variant: str) -> bytes:
    from tests.conftest import CALC

    lines = CALC.split("\n")
    if variant == "crlf":
        return CALC.replace("\n", "\r\n").encode()
    if variant == "mixed":
        return ("\r\n".join(lines[:5]) + "\r\n" + "\n".join(lines[5:])).encode()
    return CALC.replace("\n", "\r\n").rstrip("\r\n").encode()  # no final newline


@pytest.mark.parametrize("variant", ["crlf", "mixed", "no-final-newline"])
@pytest.mark.parametrize("mode", ["--apply", "--branch"])
def test_write_back_keeps_line_endings(
    variant: str, mode: str, repo_factory: object, tmp_path: Path
) -> None:
    from tests.conftest import PYTEST_INI, TEST_CALC

    repo = repo_factory(  # type: ignore[operator]
        "endings", {"test_calc.py": TEST_CALC, "pytest.ini": PYTEST_INI}, commit=False
    )
    original = _endings(variant)
    (repo / "calc.py").write_bytes(original)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    extra = [mode] if mode == "--apply" else [mode, "fixed"]
    proc = fix(repo, replies(tmp_path, FIX_REPLY), *extra)
    assert proc.returncode == 0, proc.stderr
    expected = original
    for end in (b"\r\n", b"\n"):
        bug, fixed = b"return low" + end + b"    return", b"return high" + end + b"    return"
        expected = expected.replace(bug, fixed)
    assert expected != original
    if mode == "--apply":
        assert (repo / "calc.py").read_bytes() == expected
    else:
        shown = subprocess.run(
            ["git", "show", "fixed:calc.py"], cwd=repo, capture_output=True, check=True
        ).stdout
        assert shown == expected
        assert (repo / "calc.py").read_bytes() == original


LATIN1_CALC = '''\
# -*- coding: latin-1 -*-
GREETING = "café"


def clamp(value, low, high):
    """Limit value to the closed range [low, high]: ¡sí!"""
    if value < low:
        return low
    if value > high:
        return low
    return value
'''
LATIN1_TESTS = """\
from calc import GREETING, clamp


def test_greeting():
    assert GREETING == "caf\\xe9"


def test_clamp_high():
    assert clamp(50, 0, 10) == 10


def test_clamp_low():
    assert clamp(-5, 0, 10) == 0
"""


@pytest.mark.parametrize("mode", ["--apply", "--branch"])
def test_a_latin1_source_is_fixed_and_written_in_latin1(
    mode: str, repo_factory: object, tmp_path: Path
) -> None:
    from tests.conftest import PYTEST_INI

    repo = repo_factory(  # type: ignore[operator]
        "latin", {"test_calc.py": LATIN1_TESTS, "pytest.ini": PYTEST_INI}, commit=False
    )
    (repo / "calc.py").write_bytes(LATIN1_CALC.encode("latin-1"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    # The model-free tier alone: it must read the file in its declared encoding.
    extra = [mode] if mode == "--apply" else [mode, "fixed"]
    proc = cli("fix", "--repo", str(repo), "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["fixed_by"] == "fixers"
    expected = LATIN1_CALC.replace("return low\n    return", "return high\n    return")
    if mode == "--apply":
        written = (repo / "calc.py").read_bytes()
    else:
        written = subprocess.run(
            ["git", "show", "fixed:calc.py"], cwd=repo, capture_output=True, check=True
        ).stdout
    assert written == expected.encode("latin-1")


def _branch_after_head_moves(
    calc_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: tuple[str, str]
) -> int:
    import patchloop.cli.fix as fix_module
    from patchloop.cli import main
    from patchloop.loop import repair as real_repair

    path, text = edit

    def repair_then_commit(*args: object, **kwargs: object) -> object:
        record = real_repair(*args, **kwargs)  # type: ignore[arg-type]
        # Someone commits while the run goes on (a pull, a commit in another terminal).
        (calc_repo / path).write_text(text)
        git(calc_repo, "commit", "-qam", "meanwhile")
        return record

    monkeypatch.setattr(fix_module, "repair", repair_then_commit)
    argv = ["fix", "--repo", str(calc_repo), "--model", replies(tmp_path, FIX_REPLY)]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--no-fixers", "--branch", "fixed"])
    return int(exit_info.value.code or 0)


def test_branch_rebases_onto_a_head_that_moved(
    calc_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.conftest import CALC

    moved = "# the module of clamp\n" + CALC
    code = _branch_after_head_moves(calc_repo, tmp_path, monkeypatch, ("calc.py", moved))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("diff --git a/calc.py b/calc.py")
    assert "rebased onto" in err
    head = git(calc_repo, "rev-parse", "HEAD").strip()
    assert git(calc_repo, "rev-parse", "fixed^").strip() == head
    assert git(calc_repo, "show", "fixed:calc.py") == moved.replace(
        "return low\n    return value", "return high\n    return value"
    )
    assert (calc_repo / "calc.py").read_text() == moved


def test_branch_refuses_a_moved_head_it_does_not_apply_to(
    calc_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.conftest import CALC

    clash = CALC.replace(
        "    if value > high:\n        return low", "    if value >= high:\n        return low"
    )
    code = _branch_after_head_moves(calc_repo, tmp_path, monkeypatch, ("calc.py", clash))
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "HEAD moved" in err
    assert "patchloop: hint:" in err
    assert "run record:" in err
    assert out.startswith("diff --git a/calc.py b/calc.py")  # the verified diff, in hand
    assert git(calc_repo, "branch", "--list", "fixed") == ""


BROKEN_TEST = "import not_installed_anywhere\n\n\ndef test_x():\n    assert True\n"


@pytest.mark.parametrize("named", [False, True])
def test_a_module_that_fails_to_collect_is_named_and_not_a_target(
    named: bool, repo_factory: object, tmp_path: Path
) -> None:
    from tests.conftest import CALC, PYTEST_INI, TEST_CALC

    repo = repo_factory(  # type: ignore[operator]
        "collect",
        {
            "calc.py": CALC,
            "test_calc.py": TEST_CALC,
            "test_broken.py": BROKEN_TEST,
            "pytest.ini": PYTEST_INI,
        },
    )
    extra = ["--test", "test_calc.py::test_clamp_high"] if named else []
    proc = fix(repo, replies(tmp_path, FIX_REPLY), *extra, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["targets"] == ["test_calc.py::test_clamp_high"]
    assert data["attempts"] == 1
    warning = next(line for line in proc.stderr.splitlines() if "could not be collected" in line)
    assert "test_broken.py" in warning
    assert "No module named 'not_installed_anywhere'" in warning
    assert "not a target" in warning
    events = Path(data["record_dir"], "events.jsonl").read_text()
    assert "baseline.collect_error" in events


def test_a_collection_error_that_is_the_only_failure_is_the_target(
    repo_factory: object, tmp_path: Path
) -> None:
    repo = repo_factory(  # type: ignore[operator]
        "only",
        {
            "lib.py": "def f():\n    return 1\n",
            "test_lib.py": "from lib import f\n\n\ndef test_f():\n    assert f() == 1\n",
            "test_g.py": "from lib import g\n\n\ndef test_g():\n    assert g() == 2\n",
        },
    )
    reply = (
        "lib.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 1\n\n\n"
        "def g():\n    return 2\n>>>>>>> REPLACE\n"
    )
    proc = fix(repo, replies(tmp_path, reply), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["targets"] == ["test_g.py"]
    prompt = Path(data["record_dir"], "attempts", "001", "prompt.json").read_text()
    assert "COLLECTION ERROR test_g.py" in prompt
    assert "ImportError: cannot import name 'g' from 'lib'" in prompt


def test_naming_a_test_in_a_module_that_fails_to_collect_says_why(
    repo_factory: object, tmp_path: Path
) -> None:
    repo = repo_factory(  # type: ignore[operator]
        "named", {"lib.py": "X = 1\n", "test_broken.py": BROKEN_TEST}
    )
    proc = fix(repo, replies(tmp_path, FIX_REPLY), "--test", "test_broken.py::test_x")
    assert proc.returncode == 2, proc.stderr
    assert "test_broken.py could not be collected" in proc.stderr
    assert "No module named 'not_installed_anywhere'" in proc.stderr


def test_a_nested_repository_is_part_of_the_snapshot(repo_factory: object, tmp_path: Path) -> None:
    from tests.conftest import CALC, PYTEST_INI, make_repo

    uses_vendored = (
        "from vendor.money.cents import to_cents\nfrom calc import clamp\n\n\n"
        "def test_cents():\n    assert to_cents(1.5) == 150\n\n\n"
        "def test_clamp_high():\n    assert clamp(50, 0, 10) == 10\n"
    )
    repo = repo_factory(  # type: ignore[operator]
        "outer", {"calc.py": CALC, "test_calc.py": uses_vendored, "pytest.ini": PYTEST_INI}
    )
    # A vendored checkout with its own .git, neither tracked nor ignored by the outer one.
    make_repo(
        repo / "vendor" / "money",
        {"__init__.py": "", "cents.py": "def to_cents(x):\n    return round(x * 100)\n"},
    )
    (repo / "vendor" / "__init__.py").write_text("")
    proc = fix(repo, replies(tmp_path, FIX_REPLY), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["targets"] == ["test_calc.py::test_clamp_high"]
    assert data["verified"] is True


def test_a_submodule_not_checked_out_is_named(
    repo_factory: object, caplog: pytest.LogCaptureFixture
) -> None:
    from patchloop.repo.snapshot import list_files, locate

    repo = repo_factory("withsub", {"lib.py": "X = 1\n"})  # type: ignore[operator]
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},ext/dep")
    (repo / "ext" / "dep").mkdir(parents=True)
    assert list_files(locate(repo)) == ["lib.py"]
    assert "ext/dep is a submodule that is not checked out" in caplog.text
