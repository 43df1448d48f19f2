"""The ``local`` extra is installed at the version the embedded backend is written against."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from tests.models_local.conftest import MISSING


def test_local_extra_is_installed_at_the_pinned_version() -> None:
    if MISSING:
        pytest.skip(
            f"needs the local extra ({', '.join(MISSING)} missing): pip install 'patchloop[local]'"
        )
    # The low-level LoRA calls and the grammar converter's rule text change between releases.
    assert version("llama-cpp-python") == "0.3.36"
