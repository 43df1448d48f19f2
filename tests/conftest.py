"""Shared fixtures: temporary git repositories with a buggy project."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from patchloop.domain import Completion
from patchloop.models.scripted import ScriptedModel

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


@pytest.fixture(autouse=True)
def _private_user_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the developer's own config file and saved prompt states out of every test (and
    the tests' out of them); subprocesses inherit the variables."""
    base = tmp_path_factory.getbasetemp() / "user-state"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    # One store per test: a prefix saved by one test must not make another's prompt warm.
    monkeypatch.setenv("PATCHLOOP_KV_CACHE", str(tmp_path_factory.mktemp("kv")))


CALC = '''\
def add(a, b):
    return a + b


def clamp(value, low, high):
    """Limit value to the closed range [low, high]."""
    if value < low:
        return low
    if value > high:
        return low
    return value
'''

TEST_CALC = """\
from calc import add, clamp


def test_add():
    assert add(2, 3) == 5


def test_clamp_low():
    assert clamp(-5, 0, 10) == 0


def test_clamp_high():
    assert clamp(50, 0, 10) == 10


def test_clamp_inside():
    assert clamp(5, 0, 10) == 5
"""

PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\n"

#: The one-line fix of CALC's bug, as a search/replace reply.
FIX_REPLY = """calc.py
<<<<<<< SEARCH
    if value > high:
        return low
=======
    if value > high:
        return high
>>>>>>> REPLACE
"""


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity."""
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout


def make_repo(root: Path, files: Mapping[str, str], *, commit: bool = True) -> Path:
    """A git repository at ``root`` holding ``files``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial")
    return root


def tree_state(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` except .git and .patchloop, with its bytes."""
    state: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in (".git", ".patchloop") or not path.is_file():
            continue
        state[rel.as_posix()] = path.read_bytes()
    return state


@pytest.fixture
def calc_repo(tmp_path: Path) -> Path:
    """A committed repository whose ``clamp`` has a bug; 1 of 4 tests fails."""
    return make_repo(
        tmp_path / "calc",
        {"calc.py": CALC, "test_calc.py": TEST_CALC, "pytest.ini": PYTEST_INI},
    )


@pytest.fixture
def repo_factory(tmp_path: Path) -> Callable[..., Path]:
    """Build extra repositories: ``repo_factory(name, files, commit=True)``."""

    def build(name: str, files: Mapping[str, str], *, commit: bool = True) -> Path:
        return make_repo(tmp_path / name, files, commit=commit)

    return build


class BranchScript(ScriptedModel):
    """A scripted model that branches like the embedded engine: the next reply is the first
    candidate, the replies after it stand for its branches; a branch that ``reject`` refuses
    or that repeats a candidate is dropped, and a refused first reply gives way to them."""

    def complete_branches(
        self, request: Any, count: int, reject: Any, misses: int
    ) -> list[Completion]:
        first = self.complete(request)
        refused = reject(first.text)
        kept: list[Completion] = []
        dropped = 0
        while len(kept) < count - (not refused) and dropped < misses and self.remaining:
            branch = self.complete(request)
            if reject(branch.text) or branch.text in {first.text, *(k.text for k in kept)}:
                dropped += 1
                continue
            kept.append(branch.model_copy(update={"forks": 1}))
        return kept if refused and kept else [first, *kept]


class AvoidingScript(ScriptedModel):
    """A scripted model that, like the embedded engine, answers again while ``reject``
    refuses its reply (the next scripted reply stands for the re-decoded one)."""

    def complete_avoiding(self, request: Any, reject: Any, tries: int) -> Completion:
        reply = self.complete(request)
        forks = 0
        while forks < tries and reject(reply.text):
            reply = self.complete(request)
            forks += 1
        return reply.model_copy(update={"forks": forks})
