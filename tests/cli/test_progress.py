"""Plain progress lines and the library's warnings share stderr: each thing is said once."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchloop.cli.progress import Progress
from patchloop.domain import Event
from tests.cli.test_cli import fix, replies
from tests.conftest import CALC, FIX_REPLY, PYTEST_INI, TEST_CALC, git

WARNING = "test_broken.py could not be collected: ModuleNotFoundError; not a target"


@pytest.fixture
def warnings() -> Iterator[io.StringIO]:
    """What a handler on the ``patchloop`` logger prints, as the CLI's does on stderr."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("patchloop")
    logger.addHandler(handler)
    yield out
    logger.removeHandler(handler)


def _event(kind: str, message: str) -> Event:
    return Event(t=0.5, kind=kind, message=message)


def test_an_event_that_repeats_a_warning_is_not_a_second_line(warnings: io.StringIO) -> None:
    lines = io.StringIO()
    with Progress(mode="plain", stream=lines) as progress:
        logging.getLogger("patchloop.session").warning("%s", WARNING)
        progress.on_event(_event("baseline.collect_error", WARNING))
        progress.on_event(_event("baseline.end", "1 failing, 3 passing"))
    said = warnings.getvalue() + lines.getvalue()
    assert said.count(WARNING) == 1
    assert "baseline.end: 1 failing, 3 passing" in lines.getvalue()


def test_a_warning_that_repeats_a_line_is_not_shown_again(warnings: io.StringIO) -> None:
    lines = io.StringIO()
    with Progress(mode="plain", stream=lines) as progress:
        progress.on_event(_event("baseline.collect_error", WARNING))
        logging.getLogger("patchloop.session").warning("%s", WARNING)
    assert (warnings.getvalue() + lines.getvalue()).count(WARNING) == 1
    # After the run the handler is as it was: warnings are shown again.
    logging.getLogger("patchloop.session").warning("%s", WARNING)
    assert warnings.getvalue().count(WARNING) == 1


def test_lines_alike_are_all_shown(warnings: io.StringIO) -> None:
    lines = io.StringIO()
    with Progress(mode="plain", stream=lines) as progress:
        for attempt in (1, 2):
            event = Event(
                t=1.0, kind="attempt.end", message="tests_failed", attempt=attempt, tier="m"
            )
            progress.on_event(event)
        logging.getLogger("patchloop.sandbox").warning("no warm interpreter: gone")
        logging.getLogger("patchloop.sandbox").warning("no warm interpreter: gone")
    assert lines.getvalue().count("attempt.end [m]: tests_failed") == 2
    assert warnings.getvalue().count("no warm interpreter: gone") == 2


def test_fix_says_each_warning_once(repo_factory: object, tmp_path: Path) -> None:
    repo = repo_factory(  # type: ignore[operator]
        "warned",
        {
            "calc.py": CALC,
            "test_calc.py": TEST_CALC,
            "test_broken.py": "import not_installed_anywhere\n\n\ndef test_x():\n    pass\n",
            "pytest.ini": PYTEST_INI,
        },
    )
    # A submodule that is not checked out: named when the snapshot is taken and not again
    # when --apply checks the tree before writing.
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},ext/dep")
    (repo / "ext" / "dep").mkdir(parents=True)
    proc = fix(repo, replies(tmp_path, FIX_REPLY), "--apply")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("test_broken.py could not be collected") == 1, proc.stderr
    assert proc.stderr.count("ext/dep is a submodule that is not checked out") == 1, proc.stderr
    assert "baseline.end" in proc.stderr  # plain lines, not the live display
