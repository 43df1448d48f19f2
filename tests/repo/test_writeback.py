from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.domain import FileChange
from patchloop.edits.diff import make_patch
from patchloop.errors import RepositoryError
from patchloop.repo.snapshot import locate, take_snapshot
from patchloop.repo.writeback import apply_to_tree, commit_to_branch
from tests.conftest import CALC, git


def _fix_patch():
    fixed = CALC.replace(
        "        return low\n    return value", "        return high\n    return value"
    )
    return make_patch([FileChange(path="calc.py", before=CALC, after=fixed)]), fixed


def test_apply_writes_the_patch(calc_repo: Path) -> None:
    where = locate(calc_repo)
    snap = take_snapshot(where)
    patch, fixed = _fix_patch()
    assert apply_to_tree(where, snap.info, patch) == ["calc.py"]
    assert (calc_repo / "calc.py").read_text() == fixed
    snap.remove()


def test_apply_refuses_when_the_tree_changed(calc_repo: Path) -> None:
    where = locate(calc_repo)
    snap = take_snapshot(where)
    (calc_repo / "other.py").write_text("meanwhile = 1\n")
    patch, _ = _fix_patch()
    with pytest.raises(RepositoryError, match="changed since"):
        apply_to_tree(where, snap.info, patch)
    assert (calc_repo / "calc.py").read_text() == CALC
    snap.remove()


def test_branch_commit_leaves_work_tree_and_index_alone(calc_repo: Path) -> None:
    where = locate(calc_repo)
    snap = take_snapshot(where)
    patch, fixed = _fix_patch()
    head = git(calc_repo, "rev-parse", "HEAD").strip()
    commit = commit_to_branch(where, snap.info, patch, "fix/clamp", "fix clamp")
    assert git(calc_repo, "rev-parse", "fix/clamp").strip() == commit
    assert git(calc_repo, "rev-parse", "HEAD").strip() == head
    assert git(calc_repo, "show", "fix/clamp:calc.py") == fixed
    assert git(calc_repo, "rev-parse", "fix/clamp^").strip() == head
    assert git(calc_repo, "status", "--porcelain") == ""
    assert (calc_repo / "calc.py").read_text() == CALC
    with pytest.raises(RepositoryError, match="already exists"):
        commit_to_branch(where, snap.info, patch, "fix/clamp", "again")
    with pytest.raises(RepositoryError, match="not a valid branch"):
        commit_to_branch(where, snap.info, patch, "bad..name", "x")
    snap.remove()


def test_branch_refuses_files_with_uncommitted_changes(calc_repo: Path) -> None:
    (calc_repo / "calc.py").write_text(CALC + "\n# local edit\n")
    where = locate(calc_repo)
    snap = take_snapshot(where)
    text = CALC + "\n# local edit\n"
    patch = make_patch([FileChange(path="calc.py", before=text, after=text + "x = 1\n")])
    with pytest.raises(RepositoryError, match="uncommitted changes"):
        commit_to_branch(where, snap.info, patch, "fix/x", "x")
    assert git(calc_repo, "branch", "--list", "fix/x") == ""
    snap.remove()
