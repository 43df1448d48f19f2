"""The repository map of a prompt: ranked definitions of the files the prompt does not show.

The map comes from the code index (tree-sitter def/ref graph, personalized PageRank toward what
the task and its failures mention). It is optional context: without the ``index`` extra, in a
very large repository or when indexing fails, the prompt simply has no map and the reason is
reported. The same inputs always give the same bytes, so the map never breaks the cached prefix.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from patchloop.config import ContextSettings
from patchloop.errors import PatchloopError

__all__ = [
    "DEFAULT_REPO_MAP_TOKENS",
    "MAX_MAP_FILES",
    "REPO_MAP_SHARE",
    "RepoMap",
    "build_repo_map",
    "repo_map_budget",
]

#: Token budget of the map when the configuration sets none (``context.repo_map_tokens``).
DEFAULT_REPO_MAP_TOKENS = 1024
#: The map never takes more than this share of the prompt budget, whatever is configured.
REPO_MAP_SHARE = 0.125
#: Repositories with more indexable files than this get no map: indexing one from scratch
#: would cost more than the map is worth.
MAX_MAP_FILES = 20_000
#: What building the map imports (the ``index`` extra).
MAP_MODULES = ("tree_sitter_language_pack", "bm25s", "numpy", "scipy")


@dataclass(frozen=True)
class RepoMap:
    """A map for the prompt, or why there is none."""

    text: str = ""
    note: str = ""
    """Why the map is missing or short (empty when nothing needs saying)."""


def repo_map_budget(settings: ContextSettings) -> int:
    """Tokens for the map: ``context.repo_map_tokens`` (0 turns it off), at most
    :data:`REPO_MAP_SHARE` of ``context.max_tokens``."""
    configured = settings.repo_map_tokens
    return max(0, min(configured, int(settings.max_tokens * REPO_MAP_SHARE)))


def build_repo_map(
    project: Path,
    files: Sequence[str],
    *,
    shown: Collection[str],
    focus: str,
    budget_tokens: int,
    store_dir: Path | None = None,
) -> RepoMap:
    """The map of ``project`` without the files in ``shown``, ranked toward ``focus``.

    ``files`` are the project's files (project-relative); ``shown`` those the prompt shows
    whole. Never raises for a missing extra, an unindexable repository or a broken index: the
    result then has no text and a ``note``.
    """
    from patchloop.index.languages import language_for

    if budget_tokens <= 0:
        return RepoMap()
    mappable = [f for f in files if language_for(f) is not None]
    hidden = {f for f in mappable if f not in set(shown)}
    if not hidden:
        return RepoMap()  # the prompt shows every file already
    if len(mappable) > MAX_MAP_FILES:
        return RepoMap(note=f"no repo map: {len(mappable)} source files (limit {MAX_MAP_FILES})")
    missing = [m for m in MAP_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return RepoMap(note=f"no repo map: install patchloop[index] ({missing[0]})")
    try:
        from patchloop.index import open_retriever

        retriever = open_retriever(project, store_dir=store_dir, dense=False)
        try:
            text = retriever.repo_map(focus, budget_tokens, project_only=True, exclude=shown)
        finally:
            retriever.close()
    except PatchloopError as exc:
        return RepoMap(note=f"no repo map: {exc.message}")
    except (ImportError, OSError, sqlite3.Error) as exc:
        return RepoMap(note=f"no repo map: {type(exc).__name__}: {exc}")
    return RepoMap(text=text)
