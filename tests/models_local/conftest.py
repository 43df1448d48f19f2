"""Fixtures for the embedded backend: a tiny GGUF model built once per session, and its loader.

Without the ``local`` extra (llama-cpp-python, gguf, tokenizers) only ``test_extra.py`` is
collected, and it is skipped saying what is missing.
"""

from __future__ import annotations

import contextlib
import importlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from patchloop.models.llamacpp import LlamaCppModel
from patchloop.models.tiny import TinyModel, build_tiny_model


def _missing(names: tuple[str, ...]) -> list[str]:
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


#: Modules of the local extra that are not installed.
MISSING = _missing(("llama_cpp", "gguf", "tokenizers", "uvicorn"))

if MISSING:
    collect_ignore = [
        p.name for p in Path(__file__).parent.glob("test_*.py") if p.name != "test_extra.py"
    ]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """A tiny random-weight chat model with two LoRA adapters."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), seed=0)


@pytest.fixture(scope="session")
def model(tiny: TinyModel) -> Iterator[LlamaCppModel]:
    """The tiny model loaded once; tests share it (its KV cache carries over between them)."""
    with LlamaCppModel(tiny.model, seed=0, n_ctx=2048) as loaded:
        yield loaded


@pytest.fixture
def fresh_model(tiny: TinyModel) -> Iterator[LlamaCppModel]:
    """The tiny model loaded for one test, so cache counts start from zero."""
    with LlamaCppModel(tiny.model, seed=0, n_ctx=4096) as loaded:
        yield loaded


STARTUP_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(model: Path, log_dir: Path, *, n_ctx: int) -> Iterator[str]:
    """Start ``llama_cpp.server`` for ``model`` on a free 127.0.0.1 port; yield its base URL.

    The server is stopped by its PID on exit.
    """
    port = _free_port()
    log_path = log_dir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(model),
                "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", str(n_ctx),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"server exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{base}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready in {STARTUP_S}s:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
