"""Git access: locating the work tree, snapshotting it, and writing results back."""

from patchloop.repo.snapshot import Snapshot, locate, take_snapshot
from patchloop.repo.writeback import apply_to_tree, commit_to_branch

__all__ = ["Snapshot", "apply_to_tree", "commit_to_branch", "locate", "take_snapshot"]
