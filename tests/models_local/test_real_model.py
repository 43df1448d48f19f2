"""The model tier with a real code model (Qwen2.5-Coder 0.5B, pulled by ``scripts/setup all``).

These assert the pipeline, not the fix: constrained replies are well formed and name only
editable paths, nothing crashes, and attempt 2 re-uses attempt 1's prompt in the KV cache as
counted by the real tokenizer. ``CI_REQUIRE_REAL_MODEL=1`` (set by ``scripts/test``)
turns a missing model into a failure instead of a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchloop.config import Config
from patchloop.context.layout import ContextFile, PromptLayout, Turn
from patchloop.domain import EditScope, Feedback, ScopeFile, TierPlan
from patchloop.edits import get_format
from patchloop.errors import PatchloopError
from patchloop.models.catalog import resolve_model_file
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.tiers import ModelTier, Proposal, render_turn
from tests.conftest import git

pytestmark = pytest.mark.slow

NAME = "qwen2.5-coder-0.5b"
ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
CALC = (
    "def clamp(value, low, high):\n"
    '    """Limit value to the closed range [low, high]."""\n'
    "    if value < low:\n"
    "        return low\n"
    "    if value > high:\n"
    "        return low\n"
    "    return value\n"
)
TEST_CALC = (
    "from calc import clamp\n\n\ndef test_clamp_high():\n    assert clamp(50, 0, 10) == 10\n"
)
SCOPE = EditScope(files=(ScopeFile(path="calc.py", text=CALC),), max_edits=2)


def _model_file() -> Path:
    try:
        return resolve_model_file(NAME)
    except Exception as exc:
        if os.environ.get("CI_REQUIRE_REAL_MODEL") == "1":
            pytest.fail(f"{NAME} is needed here: {exc} (scripts/setup all pulls it)")
        pytest.skip(f"{NAME} is not pulled: {exc}")


@pytest.fixture(scope="module")
def real() -> Iterator[LlamaCppModel]:
    with LlamaCppModel(_model_file(), n_ctx=4096, seed=0) as loaded:
        yield loaded


@pytest.mark.parametrize("name", ["search-replace", "json", "udiff"])
def test_the_sampler_refuses_test_files_and_paths_that_do_not_exist(
    real: LlamaCppModel, name: str
) -> None:
    contract = get_format(name).contract(SCOPE)
    assert contract is not None
    good = {
        "search-replace": "calc.py\n<<<<<<< SEARCH\n        return low\n",
        "json": '{"edits": [{"path": "calc.py", "search": "        return low\\n"',
        "udiff": "```diff\n--- a/calc.py\n+++ b/calc.py\n@@ -6 +6 @@\n-        return low\n",
    }[name]
    assert real.refused_at(contract, good) is None
    for path in ("test_calc.py", "src/calc.py"):
        bad = good.replace("calc.py", path, 1 if name != "udiff" else 2)
        refused = real.refused_at(contract, bad)
        assert refused is not None, bad
        # Refused within the path, before anything after it was admitted.
        start = bad.index(path)
        assert refused <= start + len(path), (refused, bad)
    # A line the file does not have is refused too.
    missing = good.replace("        return low", "        return high")
    assert real.refused_at(contract, missing) is not None


def test_a_constrained_reply_is_well_formed_and_edits_only_the_scope(
    real: LlamaCppModel,
) -> None:
    from patchloop.domain import CompletionRequest, Message, Sampling

    contract = get_format("search-replace").contract(SCOPE)
    request = CompletionRequest(
        messages=(
            Message(role="system", content=get_format("search-replace").instructions()),
            Message(
                role="user",
                content=f"## calc.py\n```python\n{CALC}```\n## test_calc.py\n```python\n"
                f"{TEST_CALC}```\nThe test fails. Change test_calc.py so that it passes.",
            ),
        ),
        contract=contract,
        sampling=Sampling(max_tokens=300),
    )
    reply = real.complete(request)
    assert reply.finish_reason == "stop", reply.text
    edits = get_format("search-replace").parse(reply.text)
    # Asked to edit the test, the model could only edit the code under test.
    assert {e.path for e in edits} == {"calc.py"}
    assert all(e.search in CALC for e in edits)


def test_attempt_two_evaluates_only_the_new_tail(real: LlamaCppModel, tmp_path: Path) -> None:
    fmt = get_format("search-replace")
    layout = PromptLayout(
        instructions=fmt.instructions(),
        files=[ContextFile("calc.py", CALC), ContextFile("test_calc.py", TEST_CALC)],
        task="",
        failures="FAILED test_calc.py::test_clamp_high\n  assert 0 == 10",
        count_tokens=real.count_tokens,
        max_tokens=3000,
    )
    tier = ModelTier(
        TierPlan(name="real", kind="model", max_iterations=2),
        real,
        fmt,
        layout,
        Config(model=Config().model.model_copy(update={"max_output_tokens": 200})),
        history=[],
        cache_key="t",
    )
    first = Proposal(tier="real")
    tier.propose(first)
    assert first.completion is not None
    assert first.well_formed is True
    feedback = Feedback(kind="tests", text="FAILED test_calc.py::test_clamp_high\n  assert 0 == 10")
    tier.history.append(Turn(reply=first.completion.text, feedback=render_turn(feedback)))
    second = Proposal(tier="real")
    with contextlib.suppress(PatchloopError):  # a repeat still counts the tokens it used
        tier.propose(second)
    assert second.completion is not None
    usage = second.completion.usage
    # Everything up to the new turn came from the KV cache, counted by the real tokenizer.
    tail = real.count_tokens(render_turn(feedback))
    assert usage.cached_tokens >= first.completion.usage.prompt_tokens
    assert usage.prompt_tokens - usage.cached_tokens <= tail + 16


def test_fix_through_the_cli_runs_the_real_model_within_the_contract(tmp_path: Path) -> None:
    _model_file()
    repo = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, repo, ignore=shutil.ignore_patterns(".patchloop", "__pycache__"))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    state = tmp_path / "state"
    env = {**os.environ, "PATCHLOOP_STATE_DIR": str(state)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "patchloop",
            "fix",
            "--repo",
            str(repo),
            "--model",
            f"llamacpp:{NAME}",
            "--no-fixers",
            "--max-iterations",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    summary = json.loads(done.stdout)
    record = json.loads(Path(summary["record_dir"], "record.json").read_text())
    attempts = record["attempts"]
    assert attempts
    for attempt in attempts:
        assert attempt["status"] not in ("model_error", "infra_error", "parse_error")
        assert attempt["well_formed"] is not False
        assert all(not p.startswith("tests/") for p in attempt["paths"])
    assert git(repo, "status", "--porcelain").strip() == ""
