"""Re-localization: repository files a new failure points at that the prompt does not show yet.

After a failed attempt the failure may surface in code the first localization did not pick (the
patch moved the error, or exposed a second fault). The files on its traceback, and the files and
modules it names, are read from the snapshot and appended to the prompt's files region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from patchloop.context.layout import ContextFile, PromptLayout
from patchloop.context.select import choose_files
from patchloop.verify.guard import is_test_path

__all__ = ["MAX_FILES_PER_FAILURE", "FileSource", "failure_files"]

#: Files one failure may add: the deepest frames matter, the rest of a long stack less so.
MAX_FILES_PER_FAILURE = 3


@dataclass(frozen=True)
class FileSource:
    """Where the prompt's files come from: the snapshot root and its source files."""

    root: Path
    files: tuple[str, ...]
    """Project-relative Python source files (no tests) that a failure may point at."""
    max_file_tokens: int
    """A file larger than this is shown as the functions the failure runs through."""

    @classmethod
    def of(cls, root: Path, files: Sequence[str], *, max_file_tokens: int) -> FileSource:
        """The source files among ``files`` (all of a snapshot, say) under ``root``."""
        sources = sorted(
            f for f in files if PurePosixPath(f).suffix == ".py" and not is_test_path(f)
        )
        return cls(root, tuple(sources), max_file_tokens)


def failure_files(layout: PromptLayout, failure: str) -> list[ContextFile]:
    """Files that the failure text ``failure`` points at and ``layout`` does not show yet.

    Candidates are the files of the traceback frames and the files and modules the text
    names; the innermost code comes first, taken as the file mentioned last (failure reports
    list frames outermost first and end with the raising line). At most
    :data:`MAX_FILES_PER_FAILURE`, within the layout's room; none without a
    :class:`FileSource`.
    """
    source = layout.source
    if source is None or not failure.strip():
        return []
    from patchloop.localize import mention_locations

    shown = layout.paths
    ranked = mention_locations(failure, source.root, source.files)
    candidates = dict.fromkeys(loc.path for loc in ranked if loc.path not in shown)
    # Stable sort: files only named as modules (not found as paths) keep their rank, last.
    order = sorted(candidates, key=lambda path: -failure.rfind(path))[:MAX_FILES_PER_FAILURE]
    position = {path: n for n, path in enumerate(order)}
    locations = sorted(
        (loc for loc in ranked if loc.path in position), key=lambda loc: position[loc.path]
    )
    return choose_files(
        source.root,
        locations=locations,
        count_tokens=layout.count_tokens,
        max_tokens=layout.room(),
        max_file_tokens=source.max_file_tokens,
    )
