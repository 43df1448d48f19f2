"""A git URL must answer within the time limit; a git that hangs goes with its children."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.errors import RepositoryError
from patchloop.service.sources import check_source, current_commit
from tests.conftest import make_repo
from tests.hung_git import gone, install_hung_git


def test_a_url_that_does_not_answer_is_refused_and_git_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file, marker = install_hung_git(tmp_path, monkeypatch)
    with pytest.raises(RepositoryError, match=r"did not answer within 0\.5s"):
        check_source(
            None,
            "https://git.example.invalid/repo.git",
            None,
            roots=[],
            schemes=["https"],
            timeout=0.5,
        )
    assert gone(pid_file)
    assert not marker.exists()


def test_the_commit_of_a_ref_is_read_with_git(tmp_path: Path) -> None:
    from patchloop.service.jobs import RepoSource
    from tests.conftest import git

    repo = make_repo(tmp_path / "r", {"a.py": "A = 1\n"})
    head = git(repo, "rev-parse", "HEAD").strip()
    source = RepoSource(path=str(repo), ref="main")
    assert current_commit(source, schemes=[], timeout=30) == head
