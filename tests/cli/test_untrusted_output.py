"""What the code under test writes is untrusted: the tamper guard fails closed, reports and
coverage are read without hanging, flooding memory or crashing. End to end through the CLI."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CALC, PYTEST_INI, TEST_CALC

ROOT = Path(__file__).resolve().parents[2]

#: A pytest in which the guard cannot find one of the reporting functions it watches (as after
#: a pytest release that moved it): pytest itself still works, its hook is registered.
HIDE_MAKEREPORT = (
    "import sys, pytest, _pytest.config as c; o = c.PytestPluginManager.import_plugin; "
    "c.PytestPluginManager.import_plugin = lambda self, name, *a, **k: (o(self, name, *a, **k), "
    "name.endswith('runner') and sys.modules['_pytest.runner'].__dict__.pop("
    "'pytest_runtest_makereport', None))[0]; sys.exit(pytest.main())"
)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # From the checkout, so that a dotted path to a test sandbox imports.
    return subprocess.run(
        [sys.executable, "-m", "patchloop", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_without_its_whole_tamper_guard_there_is_no_verdict(calc_repo: Path) -> None:
    cmd = f"python -c {shlex.quote(HIDE_MAKEREPORT)}"
    proc = run_cli("fix", "--repo", str(calc_repo), "--test-cmd", cmd, "--json")
    assert proc.returncode == 2, proc.stderr
    assert "the tamper guard could not watch pytest's runner.pytest_runtest_makereport" in (
        proc.stderr
    )
    assert json.loads(proc.stdout)["status"] == "error"


SWAP_REPORT = """\
import os


def test_swap_the_report():
    path = os.environ["_PATCHLOOP_REPORT_PATH"]
    if os.path.lexists(path):
        os.remove(path)
    {swap}
"""


@pytest.mark.parametrize(
    ("swap", "message"),
    [
        # The plugin's own write then blocks until the run's time limit; reading must not.
        ("os.mkfifo(path)", "did not finish within"),
        ('os.symlink("/dev/zero", path)', "produced no test report"),
    ],
)
def test_a_report_file_swapped_for_a_fifo_or_dev_zero_cannot_hang_the_harness(
    swap: str, message: str, repo_factory: object, tmp_path: Path
) -> None:
    repo = repo_factory(  # type: ignore[operator]
        "swap",
        {
            "calc.py": CALC,
            "test_calc.py": TEST_CALC,
            "test_swap.py": SWAP_REPORT.format(swap=swap),
            "pytest.ini": PYTEST_INI,
        },
    )
    config = tmp_path / "user.toml"
    # A sandbox that cannot pass descriptors: the report goes through a file.
    config.write_text(
        '[sandbox]\nkind = "tests.verify.test_pytest_runner:NoFdSandbox"\n'
        "[tests]\ntimeout = 10\nflake_runs = 1\n"
    )
    proc = run_cli("fix", "--repo", str(repo), "--config", str(config), "--json")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert json.loads(proc.stdout)["status"] == "error"


#: Overwrites the coverage plugin's output after pytest wrote it, with a malformed line map.
FORGE_COVERAGE = """\
import atexit
import json
import os


def _forge():
    out = os.environ.get("PATCHLOOP_SPECTRUM_OUT")
    if out:
        with open(out, "w") as fh:
            json.dump({"tests": {"t": {"calc.py": 5}}}, fh)
        with open(out + ".outcomes.jsonl", "a") as fh:
            fh.write(json.dumps({"nodeid": "x", "frames": 5, "duration": "slow"}) + "\\n")


atexit.register(_forge)
"""


def test_malformed_coverage_from_the_tests_is_no_coverage(
    repo_factory: object, tmp_path: Path
) -> None:
    repo = repo_factory(  # type: ignore[operator]
        "forge",
        {
            "calc.py": CALC,
            "test_calc.py": TEST_CALC,
            "conftest.py": FORGE_COVERAGE,
            "pytest.ini": PYTEST_INI,
        },
    )
    proc = run_cli("fix", "--repo", str(repo), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    assert data["verified"] is True
    assert data["fixed_by"] == "fixers"
