"""The ``auto`` edit format: whole files for small models on short files, else search/replace.

Measured with Qwen2.5-Coder 1.5B on QuixBugs (one attempt each, constrained): rewriting the
whole file fixed more than twice as many programs as SEARCH/REPLACE blocks, whose exact copies a
small model gets wrong or leaves unchanged. A rewrite costs output tokens in proportion to the
file, so it is chosen only where every file the reply may edit is short, and only for models
known to be small; models of unknown size (servers) keep SEARCH/REPLACE.
"""

from __future__ import annotations

from collections.abc import Sequence

from patchloop.domain import ScopeFile

__all__ = ["AUTO", "SMALL_MODEL_PARAMETERS", "WHOLE_FILE_LINES", "resolve_format"]

AUTO = "auto"
#: Models up to this many parameters rewrite short files whole.
SMALL_MODEL_PARAMETERS = 4_000_000_000
#: Longest file (lines shown) rewritten whole under ``auto``.
WHOLE_FILE_LINES = 150


def resolve_format(name: str, parameters: int | None, files: Sequence[ScopeFile]) -> str:
    """The edit format to ask in: ``name`` itself unless it is ``auto``."""
    if name != AUTO:
        return name
    small = parameters is not None and parameters <= SMALL_MODEL_PARAMETERS
    # Only files shown whole can be rewritten whole.
    short = bool(files) and all(
        not f.spans and sum(len(run) for run in f.runs()) <= WHOLE_FILE_LINES for f in files
    )
    return "whole" if small and short else "search-replace"
