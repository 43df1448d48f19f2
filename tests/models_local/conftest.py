"""Fixtures for the embedded backend: a tiny GGUF model built once per session, and its loader.

Without the ``local`` extra (llama-cpp-python, gguf, tokenizers) only ``test_extra.py`` is
collected, and it is skipped saying what is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

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
