"""Fixtures of the router tests: the bundled MiniLM, exported once per session to a temporary
cache, and the classifier over the shipped head."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.route import IntentClassifier, RouteSettings, load_classifier


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``XDG_CACHE_HOME`` for the session; the exported embedding graph lands under it."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def session_settings(cache_home: Path) -> RouteSettings:
    """Default routing settings, with the embedding graph cached in the session's folder."""
    return RouteSettings(models_dir=str(cache_home / "patchloop" / "models"))


@pytest.fixture(scope="session")
def classifier(session_settings: RouteSettings) -> IntentClassifier:
    """The shipped head over the bundled MiniLM (a real model load, no network)."""
    return load_classifier(session_settings)
