"""What an indexing or garbage-collection run did, for the CLI and for records."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GcStats", "IndexStats", "Progress", "merge_passes"]

#: ``progress(phase, done, total)``; phases: ``list``, ``chunk``, ``lexical``, ``dense``.
Progress = Callable[[str, int, int], None]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IndexStats(_Frozen):
    """Counts and timings of one ``build_index`` call."""

    repo: str
    ref: str
    """Canonical ref name (``refs/heads/main``, a commit id, or ``WORKTREE``)."""
    commit: str | None
    manifest: str
    """Content key of the indexed tree; equal trees share it."""
    files: int
    files_chunked: int
    """File versions chunked in this run (never seen before)."""
    files_reused: int
    chunks: int
    """Chunk occurrences in the manifest."""
    chunks_new: int
    """Distinct chunk texts stored for the first time."""
    chunks_reused: int
    """Distinct chunk texts of the manifest that were already stored."""
    embedded: int = 0
    """Chunks embedded in this run."""
    embeddings_reused: int = 0
    dense_pending: int = 0
    """Chunks of the manifest still without an embedding (dense indexing off or interrupted)."""
    skipped: int = 0
    """Files left out of the index (binary, too large)."""
    notes: list[str] = Field(default_factory=list)
    """One line per file handled specially in this run (skipped, decoded, windows only)."""
    timings: dict[str, float] = Field(default_factory=dict)
    """Seconds per phase."""
    embedder: str = ""
    """Embedding backend used, if any."""


def merge_passes(lexical: IndexStats, dense: IndexStats) -> IndexStats:
    """One report for a ref indexed lexically first and then embedded in a second call.

    File and chunk counts, notes and the early phases' timings come from the first call (the
    second finds everything chunked); embedding counts and the dense timing from the second.
    """
    timings = {**lexical.timings}
    for phase, seconds in dense.timings.items():
        if phase not in timings:
            timings[phase] = seconds
    return lexical.model_copy(
        update={
            "manifest": dense.manifest,
            "embedded": dense.embedded,
            "embeddings_reused": dense.embeddings_reused,
            "dense_pending": dense.dense_pending,
            "embedder": dense.embedder,
            "timings": timings,
        }
    )


class GcStats(_Frozen):
    """What ``gc`` removed."""

    refs: int = 0
    manifests: int = 0
    files: int = 0
    chunks: int = 0
    embeddings: int = 0
    seconds: float = 0.0
