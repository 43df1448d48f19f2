"""Unified diffs: the ``udiff`` edit format, and strict re-application of stored diffs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from patchloop.domain import Edit, EditScope, OutputContract, Patch
from patchloop.edits.apply import Workspace, apply_edits
from patchloop.edits.contracts import udiff_scoped_grammar
from patchloop.edits.diff import make_patch
from patchloop.edits.prompts import load_prompt
from patchloop.edits.udiff_parse import parse_error, parse_unified_diff
from patchloop.errors import ApplyError

__all__ = ["UdiffFormat", "apply_diff", "parse_udiff"]


def parse_udiff(text: str) -> list[Edit]:
    """Edits from a model's unified diff: one per hunk, new files whole. Pure.

    A hunk becomes ``Edit(search=context and removed lines, replace=context and added lines,
    line_hint=its old start line)``; a hunk with neither context nor removed lines inserts
    after that line. Deleting and renaming files are ParseErrors, as is a reply without a diff.
    """
    files = parse_unified_diff(text)
    if not files:
        raise parse_error("it contains no unified diff (no '--- a/PATH' / '+++ b/PATH' lines)")
    edits: list[Edit] = []
    for f in files:
        if f.new_path is None:
            raise parse_error(
                f"deleting files is not supported ({f.old_path}); change its content instead"
            )
        if f.old_path is not None and f.old_path != f.new_path:
            raise parse_error(f"renaming files is not supported ({f.old_path} -> {f.new_path})")
        if f.old_path is None:
            if any(line.op != "+" for hunk in f.hunks for line in hunk.lines):
                raise parse_error(f"in the new file {f.new_path}, every line must start with '+'")
            edits.append(
                Edit(path=f.new_path, search="", replace="".join(h.new() for h in f.hunks))
            )
            continue
        if not f.hunks:
            raise parse_error(f"the diff for {f.new_path} has no hunks")
        for number, hunk in enumerate(f.hunks, start=1):
            search = hunk.old()
            if not search and hunk.old_start is None:
                raise parse_error(
                    f"hunk {number} of {f.new_path} has no unchanged or removed lines, so it "
                    "cannot be placed; include a few unchanged lines around the change"
                )
            edits.append(
                Edit(path=f.new_path, search=search, replace=hunk.new(), line_hint=hunk.old_start)
            )
    return edits


def apply_diff(root: Path, diff_text: str, *, dry_run: bool = True, label: str = "") -> Patch:
    """Re-apply a stored unified diff (replay, evaluation, ``--apply``) to the tree at ``root``.

    Strict, like ``git apply``: context must match exactly, at the stated line or the nearest
    place to it; new files must not exist and deleted files must match. Accepts everything
    :func:`~patchloop.edits.diff.make_patch` writes. Nothing is written when ``dry_run``.
    """
    workspace = Workspace(root, strict=True)
    for f in parse_unified_diff(diff_text, strict=True):
        if f.new_path is None:
            workspace.delete(f.path, "".join(h.old() for h in f.hunks))
        elif f.old_path is not None and f.old_path != f.new_path:
            raise ApplyError(f"cannot apply a rename ({f.old_path} -> {f.new_path})")
        elif f.old_path is None:
            workspace.edit(
                Edit(path=f.new_path, search="", replace="".join(h.new() for h in f.hunks))
            )
        else:
            for hunk in f.hunks:
                workspace.edit(
                    Edit(
                        path=f.new_path,
                        search=hunk.old(),
                        replace=hunk.new(),
                        line_hint=hunk.old_start,
                    )
                )
    patch = make_patch(workspace.changes(), label)
    if not dry_run:
        workspace.write()
    return patch


class UdiffFormat:
    """Unified diff replies, applied by context so that shifted line numbers do not matter."""

    name: str = "udiff"

    def instructions(self) -> str:
        """How to write the diff, with an example."""
        return load_prompt("udiff")

    def contract(self, scope: EditScope | None = None) -> OutputContract | None:
        """None without ``scope`` (a free unified diff is not constrained); with it, a grammar
        admitting one fenced diff of scope files, unchanged and removed lines taken from
        its shown lines, at most ``scope.max_edits`` hunks."""
        if scope is None or not scope.files:
            return None
        return OutputContract(name=self.name, grammar=udiff_scoped_grammar(scope))

    def parse(self, text: str) -> list[Edit]:
        """Edits from the diff in ``text``; see :func:`parse_udiff`."""
        return parse_udiff(text)

    def apply(self, root: Path, edits: Sequence[Edit], *, dry_run: bool = True) -> Patch:
        """Apply ``edits`` to the tree at ``root``; see :func:`~patchloop.edits.apply_edits`."""
        return apply_edits(root, edits, dry_run=dry_run, label=self.name)
