"""A worker that dies without a result is reported with its signal, its backends and a hint."""

from __future__ import annotations

import signal

from patchloop.eval.pool import crash_detail


def test_a_native_crash_with_the_embedded_engine_names_signal_backend_and_fix() -> None:
    text = crash_detail(-signal.SIGSEGV, ("llamacpp:qwen2.5-coder-1.5b",))
    assert "died of SIGSEGV (segmentation fault)" in text
    assert "models: llamacpp:qwen2.5-coder-1.5b" in text
    assert "embedded llama.cpp engine" in text
    assert "PATCHLOOP_MODEL__EXTRA_BUFFERS=off" in text


def test_out_of_memory_kill_says_so() -> None:
    text = crash_detail(-signal.SIGKILL, ("llamacpp:/m.gguf",))
    assert "SIGKILL (killed)" in text
    assert "out of memory" in text


def test_an_exit_status_without_models() -> None:
    text = crash_detail(3, ())
    assert text == (
        "the worker process exited with status 3 and no result; no model (model-free tier only)"
    )
