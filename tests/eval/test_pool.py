"""The pool's worker processes leave no scratch space behind, although they end with os._exit."""

from __future__ import annotations

import multiprocessing
import tempfile
from pathlib import Path

import pytest

from patchloop.config import Config
from patchloop.eval import EvalSettings, parse_suite
from patchloop.eval.pool import _child
from patchloop.eval.results import TaskResult
from patchloop.sandbox import _fs
from patchloop.verify import pytest_runner
from tests.eval.suites import calc_task
from tests.eval.test_suite import lines


def test_a_worker_removes_its_scratch_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(_fs, "SHM", scratch)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    # The worker makes its own plugin directory, as a fresh worker process does.
    monkeypatch.setattr(pytest_runner, "_plugin_path", None)
    (task,) = parse_suite(lines(calc_task())).tasks
    settings = EvalSettings(config=Config.model_validate({"sandbox": {"kind": "local"}}))
    ctx = multiprocessing.get_context("fork")  # inherits the scratch location patched above
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(writer, task, settings))
    proc.start()
    writer.close()
    payload = reader.recv_bytes()
    proc.join()
    reader.close()
    assert TaskResult.model_validate_json(payload).resolved
    assert sorted(p.name for p in scratch.iterdir()) == []
