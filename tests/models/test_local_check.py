"""``models check`` of an embedded model: the child's crash or failure is reported, not fatal."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from patchloop.config import ModelSettings
from patchloop.errors import UsageError
from patchloop.models import catalog
from patchloop.models.catalog import Catalog
from patchloop.models.check import check_model, describe_check
from patchloop.models.local_check import LocalCheck, check_local
from patchloop.models.model_cache import ModelCache
from patchloop.models.pull import pull_model
from patchloop.models.spec import parse_spec
from tests.models.fake_wheels import CopyDownloader, fake_model

SPEC = parse_spec("llamacpp:/models/coder.gguf")


def child(*lines: dict[str, object], then: str = "") -> list[str]:
    """A stand-in for the check's child: prints stage lines, then runs ``then``."""
    prints = "".join(f"print({json.dumps(json.dumps(x))}, flush=True)\n" for x in lines)
    return [sys.executable, "-c", "import os, signal, sys\n" + prints + then]


def test_a_native_crash_is_reported_with_its_signal_stage_and_a_hint() -> None:
    result = check_local(
        SPEC,
        ModelSettings(),
        command=child(
            {"stage": "load"},
            {"stage": "prefill", "load_s": 0.25},
            then="sys.stderr.write('Fatal Python error: Segmentation fault\\n'); sys.stderr.flush()"
            "\nos.kill(os.getpid(), signal.SIGSEGV)",
        ),
    )
    assert isinstance(result, LocalCheck)
    assert not result.reachable
    assert result.signal == "SIGSEGV"
    assert result.stage == "prefill"
    assert result.load_s == 0.25
    (error,) = result.errors
    assert "crashed with SIGSEGV (segmentation fault) on the first decode (prefill)" in error
    assert "llama-cpp-python" in error
    assert "/models/coder.gguf" in error
    assert result.hint
    text = describe_check(result)
    assert "runs             NO (crashed: SIGSEGV)" in text
    assert "Fatal Python error: Segmentation fault" in text


def test_a_killed_child_hints_at_memory() -> None:
    result = check_local(
        SPEC, ModelSettings(), command=child({"stage": "load"}, then="os.kill(os.getpid(), 9)")
    )
    assert result.signal == "SIGKILL"
    assert "while loading the model" in result.errors[0]
    assert "memory" in (result.hint or "")
    assert signal.Signals.SIGKILL.value == 9


def test_an_error_in_the_child_is_reported_with_its_hint() -> None:
    failed = {"stage": "failed", "error": "the llamacpp backend needs llama_cpp", "hint": "pip"}
    result = check_local(
        SPEC, ModelSettings(), command=child({"stage": "load"}, failed, then="sys.exit(1)")
    )
    assert not result.reachable
    assert result.signal is None
    assert result.errors[0].startswith("the llamacpp backend needs llama_cpp while loading")
    assert result.hint == "pip"


def test_a_full_run_of_the_child_is_measured() -> None:
    result = check_local(
        SPEC,
        ModelSettings(),
        command=child(
            {"stage": "load"},
            {"stage": "prefill", "load_s": 0.5},
            {"stage": "generate", "model": "coder", "prompt_tokens": 40, "prefill_tok_s": 80.0},
            {
                "stage": "constrained",
                "generated_tokens": 16,
                "generation_s": 0.8,
                "generation_tok_s": 20.0,
                "cached_tokens": 40,
                "reply": "def f",
            },
            {"stage": "done", "constrained": True},
        ),
    )
    assert result.reachable
    assert (result.prefill_tok_s, result.generation_tok_s, result.cached_tokens) == (80, 20, 40)
    assert result.constrained_output is True
    assert result.capabilities.reports_cached_tokens
    assert result.capabilities.adapters  # declared by the backend, not measured: kept
    assert "prefill          80.0 tok/s (40 prompt tokens)" in describe_check(result)


def test_an_unpulled_name_stops_before_any_child(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATCHLOOP_MODEL_CACHE", str(tmp_path))
    with pytest.raises(UsageError, match="not pulled") as info:
        check_model("llamacpp:qwen2.5-coder-1.5b", record=False)
    assert info.value.hint == "patchloop models pull qwen2.5-coder-1.5b"


def test_the_child_loads_the_file_a_name_resolves_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = fake_model(tmp_path / "index")
    cache = ModelCache(tmp_path / "elsewhere")
    pull_model(fake.entry, cache, downloader=CopyDownloader(fake.folder))
    monkeypatch.setattr(catalog, "CATALOG", Catalog((fake.entry,)))
    echo = "import json, sys\nsent = json.load(sys.stdin)\n" + (
        "print(json.dumps({'stage': 'failed', 'error': sent['spec']['target']}))\nsys.exit(1)"
    )
    result = check_local(
        parse_spec("llamacpp:fake-coder"),
        ModelSettings(),
        cache_dir=cache.root,
        command=[sys.executable, "-c", echo],
    )
    assert result.path == str(cache.path(fake.entry))
    assert result.errors[0].startswith(f"{cache.path(fake.entry)} before loading the model")
