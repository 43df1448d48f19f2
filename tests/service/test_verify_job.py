"""A verification job runs the diff's tests in a sandbox it closes afterwards."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from patchloop.domain import Event
from patchloop.service.jobs import RepoSource, VerifySpec
from patchloop.service.verify_job import verify_job

FIX_DIFF = """\
--- a/calc.py
+++ b/calc.py
@@ -7,5 +7,5 @@
     if value < low:
         return low
     if value > high:
-        return low
+        return high
     return value
"""


def test_the_sandbox_is_closed_after_the_tests(
    calc_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import patchloop.sandbox

    made: list[Any] = []
    closed: list[Any] = []
    real = patchloop.sandbox.get_sandbox

    def spy(settings: Any) -> Any:
        sandbox = real(settings)
        original = sandbox.close

        def close() -> None:
            closed.append(sandbox)
            original()

        sandbox.close = close
        made.append(sandbox)
        return sandbox

    monkeypatch.setattr(patchloop.sandbox, "get_sandbox", spy)
    events: list[Event] = []
    spec = VerifySpec(repo=RepoSource(path=str(calc_repo)), diff=FIX_DIFF, timeout=60)
    result = verify_job(spec, calc_repo, events.append, time.monotonic())
    assert result.verdict == "passed", result
    assert len(made) == 1
    assert closed == made


def test_a_diff_to_a_file_in_its_declared_encoding_is_written_in_it(
    repo_factory: Any,
) -> None:
    latin = '# -*- coding: latin-1 -*-\nSIGN = "°"\n'
    repo = repo_factory("latin", {"pytest.ini": "[pytest]\n", "test_sign.py": TEST_SIGN})
    (repo / "sign.py").write_bytes(latin.encode("latin-1"))
    diff = """\
--- a/sign.py
+++ b/sign.py
@@ -1,2 +1,2 @@
 # -*- coding: latin-1 -*-
-SIGN = "°"
+SIGN = "µ"
"""
    spec = VerifySpec(repo=RepoSource(path=str(repo)), diff=diff, timeout=60)
    result = verify_job(spec, repo, lambda event: None, time.monotonic())
    assert result.verdict == "passed", result
    assert [t.outcome for t in result.tests] == ["passed"]


TEST_SIGN = """\
from pathlib import Path


def test_the_file_is_latin1():
    assert Path("sign.py").read_bytes().endswith('SIGN = "µ"\\n'.encode("latin-1"))
"""
