"""Words for a native crash of the embedded engine: the signal's name and what to do about it."""

from __future__ import annotations

import signal

from patchloop.models._cpu import has_amx

__all__ = ["crash_hint", "describe_signal"]

_MEANING = {
    "SIGSEGV": "segmentation fault",
    "SIGILL": "illegal instruction",
    "SIGBUS": "bus error",
    "SIGABRT": "aborted",
    "SIGFPE": "arithmetic exception",
    "SIGKILL": "killed",
}


def describe_signal(signum: int) -> str:
    """``SIGSEGV (segmentation fault)``, or ``signal N`` for a number without a name."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
    meaning = _MEANING.get(name)
    return f"{name} ({meaning})" if meaning else name


def crash_hint(signum: int, stage: str) -> str:
    """What to try after the engine died of ``signum`` at ``stage``."""
    name = describe_signal(signum).split(" ")[0]
    server = "or serve the model with llama.cpp's server (kind llama-server:)"
    if name == "SIGKILL":
        return "most likely out of memory: lower n_ctx ([models] n_ctx) or use a smaller model"
    if name == "SIGILL":
        return (
            "this llama-cpp-python build uses CPU instructions this machine lacks; rebuild it "
            "here: pip install --force-reinstall --no-cache-dir llama-cpp-python"
        )
    if name == "SIGSEGV" and stage != "load":
        amx = "this CPU has AMX, and " if has_amx() else ""
        return (
            f"{amx}llama.cpp's AMX matrix kernel crashes on quantized models (llama.cpp issue "
            '#20824); load the model without weight repacking: model.extra_buffers = "off" '
            f"(PATCHLOOP_MODEL__EXTRA_BUFFERS=off), {server}"
        )
    return (
        f"the native library crashed (its stderr is below); try another llama-cpp-python, {server}"
    )
