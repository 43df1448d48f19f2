"""A model's edit to a source file in a declared encoding (PEP 263) applies and verifies."""

from __future__ import annotations

from pathlib import Path

from patchloop.config import Config, FixerSettings
from patchloop.domain import Task
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel
from tests.conftest import CALC, FIX_REPLY, PYTEST_INI, TEST_CALC, make_repo

#: calc.py declared latin-1, with a character outside ASCII that UTF-8 would not read.
LATIN_CALC = '# -*- coding: latin-1 -*-\nUNIT = "°"\n' + CALC


def test_a_latin1_module_is_fixed_and_the_diff_verified(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", {"test_calc.py": TEST_CALC, "pytest.ini": PYTEST_INI})
    (repo / "calc.py").write_bytes(LATIN_CALC.encode("latin-1"))
    model = ScriptedModel([FIX_REPLY], name="scripted:a")
    config = Config(models=("scripted:a",), max_iterations=1, fixers=FixerSettings(enabled=False))
    record = repair(Task(repo=repo), config, models=[model])
    assert [a.status for a in record.attempts] == ["verified"]
    assert "+        return high" in record.diff
    assert (repo / "calc.py").read_bytes() == LATIN_CALC.encode("latin-1")  # tree untouched
