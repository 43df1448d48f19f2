"""Persistence: run records on disk, read back by ``patchloop runs`` and replay."""

from patchloop.store.records import RunStore, RunWriter, new_run_id

__all__ = ["RunStore", "RunWriter", "new_run_id"]
