"""The code index a run searches, when the task has words and the index extra is there."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from patchloop.errors import PatchloopError
from patchloop.protocols import Retriever
from patchloop.session import RunSession

__all__ = ["INDEX_MODULES", "open_retriever"]

#: What the lexical code index needs at run time (the ``index`` extra).
INDEX_MODULES = ("bm25s", "tree_sitter_language_pack")


def open_retriever(run: RunSession) -> Retriever | None:
    """The code index over the project, when the task has words to search for and the index
    extra is installed (``context.retriever`` chooses lexical, hybrid or none)."""
    kind = run.config.context.retriever
    if kind == "none" or not run.task.description.strip():
        return None
    missing = [m for m in INDEX_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        run.emit("localize.note", f"no code index: install patchloop[index] ({missing[0]})")
        return None
    from patchloop import index

    try:
        store = run.config.index.dir
        project = Path(run.snapshot.info.root).resolve()
        return index.retrievers.resolve(kind)(
            project, store_dir=Path(store) if store else None, scope=index.project_scope(project)
        )
    except PatchloopError as exc:
        run.emit("localize.note", f"no code index: {exc.message}")
        return None
