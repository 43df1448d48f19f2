"""Whether a resolved fix is the reference fix: the same code, up to formatting and comments.

Tests of public suites are sometimes weak, so a diff that passes them is only *plausible*. A
diff whose patched files parse to the same syntax tree as the reference fix's is counted as
matching it: a lower bound on correct fixes (a different but equivalent fix does not match).
Runs in the harness only; the reference is never shown to the system under test.
"""

from __future__ import annotations

import ast

from patchloop.edits import apply_diff
from patchloop.errors import EditError
from patchloop.eval.materialize import write_files
from patchloop.eval.suite import SuiteTask
from patchloop.sandbox import make_temp_dir, remove_tree

__all__ = ["matches_reference", "same_code"]


def same_code(path: str, left: str | None, right: str | None) -> bool:
    """Whether two versions of ``path`` hold the same code (Python: same syntax tree)."""
    if left is None or right is None or not path.endswith(".py"):
        return left == right
    try:
        return ast.dump(ast.parse(left)) == ast.dump(ast.parse(right))
    except (SyntaxError, ValueError):
        return left == right


def _patched(task: SuiteTask, diff: str) -> dict[str, str | None] | None:
    scratch = make_temp_dir("reference")
    try:
        write_files(task.files, scratch)
        try:
            patch = apply_diff(scratch, diff, dry_run=True)
        except EditError:
            return None
        return {change.path: change.after for change in patch.changes}
    finally:
        remove_tree(scratch)


def matches_reference(task: SuiteTask, diff: str, reference: str) -> bool | None:
    """Whether ``diff`` makes the same code as ``reference``; ``None`` when either does not
    apply to the task's files."""
    ours, theirs = _patched(task, diff), _patched(task, reference)
    if ours is None or theirs is None:
        return None
    for path in sorted({*ours, *theirs}):
        base = task.files.get(path)
        if not same_code(path, ours.get(path, base), theirs.get(path, base)):
            return False
    return True
