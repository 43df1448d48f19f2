"""``patchloop localize`` from an issue text, through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_repo

INVENTORY = """\
class Inventory:
    def __init__(self):
        self.items = {}

    def restock(self, name, count):
        if count < 0:
            raise ValueError("restock count must be positive, got a negative number")
        self.items[name] = self.items.get(name, 0) + count

    def remove(self, name, count):
        self.items[name] -= count
"""

REPORTS = '''\
def stock_report(inventory):
    """A line per item of the inventory."""
    return "\\n".join(f"{name}: {count}" for name, count in inventory.items.items())
'''

BROKEN_CONFTEST = """\
import pathlib
pathlib.Path(__file__).with_name("conftest-was-imported").write_text("yes")
import a_module_that_is_not_installed
"""

ISSUE = """Restocking zero items fails

```python
from store.inventory import Inventory
Inventory().restock("apples", 0)
```
raises `ValueError: restock count must be positive, got a negative number` although 0 is fine.
"""


def _repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "shop",
        {
            "store/__init__.py": "",
            "store/inventory.py": INVENTORY,
            "store/reports.py": REPORTS,
            "tests/conftest.py": BROKEN_CONFTEST,
            "tests/test_inventory.py": "def test_restock():\n    assert True\n",
        },
    )


def cli(*args: str, index_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATCHLOOP_INDEX__DIR": str(index_dir)}
    return subprocess.run(
        [sys.executable, "-m", "patchloop", *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def test_localize_from_the_issue_text_runs_nothing(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    proc = cli("localize", ISSUE, "--repo", str(repo), "--json", index_dir=tmp_path / "index")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert not (repo / "tests" / "conftest-was-imported").exists()
    assert report["tests_ran"] is False
    assert report["files"][0]["path"] == "store/inventory.py"
    assert report["files"][0]["reasons"]
    top = report["functions"][0]
    assert (top["path"], top["symbol"]) == ("store/inventory.py", "Inventory.restock")
    assert top["features"]["file"] > 0
    span = report["lines"][0]
    assert span["path"] == "store/inventory.py"
    assert span["start_line"] <= 7 <= span["end_line"]
    assert "message" in span["reason"]
    assert not any(f["path"].startswith("tests/") for f in report["files"])


def test_a_suite_that_cannot_be_collected_is_a_note(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    proc = cli("localize", ISSUE, "--repo", str(repo), "--run-tests", index_dir=tmp_path / "i")
    assert proc.returncode == 0, proc.stderr
    assert "store/inventory.py" in proc.stdout
    assert "Inventory.restock" in proc.stdout
    assert "note: tests not run" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_a_model_reranks_the_best_files(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    replies = tmp_path / "replies.jsonl"
    replies.write_text(json.dumps("store/reports.py\n") + "\n")
    proc = cli("localize", ISSUE, "--repo", str(repo), "--model", f"scripted:{replies}", "--json",
               index_dir=tmp_path / "index")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["files"][0]["path"] == "store/reports.py"
    assert report["files"][0]["reasons"][0] == "model pick #1"
    assert report["files"][1]["path"] == "store/inventory.py"
