"""``patchloop fix`` end to end against a real ``llama_cpp.server`` on 127.0.0.1.

The tiny random model fixes nothing; the point is that the loop handles whatever it says,
records every attempt and exits 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchloop.models.tiny import TinyModel
from patchloop.store import RunStore
from tests.conftest import tree_state
from tests.models_local.conftest import running_server

ATTEMPT_STATUSES = {
    "parse_error", "apply_error", "unsafe_edit", "guard_rejected", "empty_patch", "tests_failed",
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tiny: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tiny.model, tmp_path_factory.mktemp("fix-server"), n_ctx=4096) as base:
        yield base


@pytest.mark.slow
def test_fix_against_the_server_records_every_attempt(server: str, calc_repo: Path) -> None:
    before = tree_state(calc_repo)
    env = {
        **os.environ,
        "PATCHLOOP_MODEL__MAX_OUTPUT_TOKENS": "48",
        "PATCHLOOP_MODEL__RETRIES": "0",
        "PATCHLOOP_MODEL__TEMPERATURE": "1.0",
    }
    proc = subprocess.run(
        [
            sys.executable, "-m", "patchloop", "fix", "--repo", str(calc_repo),
            "--model", f"openai:{server}", "--no-fixers", "--max-iterations", "3", "--json",
        ],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["verified"] is False
    assert summary["attempts"] == 3
    store = RunStore(calc_repo / ".patchloop")
    record = store.load(summary["run_id"])
    assert record.stop_reason == "iterations"
    run_dir = store.path(record.id)
    for attempt in record.attempts:
        assert attempt.status in ATTEMPT_STATUSES
        assert attempt.usage.prompt_tokens > 0
        assert 0 < attempt.usage.completion_tokens <= 48
        folder = run_dir / "attempts" / f"{attempt.index:03d}"
        assert (folder / "prompt.json").is_file()
        assert (folder / "completion.txt").is_file()
    # Each prompt extends the previous one: the history is appended after a stable prefix.
    assert record.attempts[1].prefix_shared_chars > 0.8 * record.attempts[0].prompt_chars
    assert tree_state(calc_repo) == before
