"""Checks of parsed edits against an :class:`~patchloop.domain.EditScope`. Pure.

Servers that enforce a scoped contract never produce what these reject; for the others (and
for replies without a contract) the same rules run on the parsed reply, and the feedback says
exactly what was wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from patchloop.domain import Edit, EditScope
from patchloop.edits.behaviour import same_behaviour, syntax_tree
from patchloop.edits.keep_docs import restore_dropped_docs
from patchloop.edits.names import unbound_names
from patchloop.edits.syntax import breaks_syntax, lost_definitions
from patchloop.errors import OutOfScope

__all__ = [
    "breaks_python",
    "changes_nothing",
    "check_scope",
    "dedupe",
    "edits_key",
    "without_test_edits",
]


def dedupe(edits: Sequence[Edit]) -> list[Edit]:
    """``edits`` without exact repeats (a looping model), first occurrence kept."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Edit] = []
    for edit in edits:
        key = (edit.path, edit.search, edit.replace)
        if key not in seen:
            seen.add(key)
            out.append(edit)
    return out


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.rstrip() for line in text.replace("\r\n", "\n").strip("\n").split("\n"))


def edits_key(edits: Sequence[Edit], scope: EditScope | None = None) -> frozenset[object]:
    """What the edits change, ignoring order, trailing spaces and surrounding blank lines:
    two replies with the same key are the same attempt.

    With the ``scope`` the edits apply to, the key is what the files become: two replies that
    leave a Python file with the same syntax tree (they differ in comments or layout only),
    or any file with the same non-blank lines, are the same attempt however they were written.
    """
    if scope is not None:
        results = _results(edits, scope)
        if results is not None:
            return frozenset((path, _text_key(path, text)) for path, text in results.items())
    return frozenset((e.path.strip(), _lines(e.search), _lines(e.replace)) for e in edits)


def _results(edits: Sequence[Edit], scope: EditScope) -> dict[str, str] | None:
    """Each edited file's text after ``edits``; ``None`` when one cannot be worked out here
    (a file not shown, a search text that is not found exactly once)."""
    shown = {f.path: f.text for f in scope.files}
    out: dict[str, str] = {}
    for edit in edits:
        path = edit.path.strip()
        text = out.get(path, shown.get(path))
        if text is None:
            return None
        if edit.whole:
            out[path] = (
                restore_dropped_docs(text, edit.replace) if path.endswith(".py") else edit.replace
            )
        elif edit.search and text.count(edit.search) == 1:
            out[path] = text.replace(edit.search, edit.replace)
        else:
            return None
    return out


def _text_key(path: str, text: str) -> object:
    tree = syntax_tree(text) if path.endswith(".py") else None
    return ("python", tree) if tree is not None else ("lines", _code(text))


def _code(text: str) -> tuple[str, ...]:
    """The lines of ``text`` that are not blank, without trailing spaces."""
    return tuple(line.rstrip() for line in text.replace("\r\n", "\n").split("\n") if line.strip())


def changes_nothing(edits: Sequence[Edit], scope: EditScope) -> bool:
    """Whether ``edits`` leave every file of ``scope`` as it is (ignoring trailing spaces and
    blank lines): a rewrite that copies its file, a replacement equal to its search text, or
    a change to a Python file that cannot change what it does (see
    :func:`~patchloop.edits.behaviour.same_behaviour`). An edit of a file outside the scope,
    or that creates a file, changes something."""
    if not edits:
        return False
    shown = {f.path: f.text for f in scope.files}
    for edit in edits:
        path = edit.path.strip()
        original = shown.get(path)
        if edit.whole:
            if original is None:
                return False
            rewrite = edit.replace
            if path.endswith(".py"):
                rewrite = restore_dropped_docs(original, rewrite)
            if _code(rewrite) != _code(original) and not _same_python(
                path, original, rewrite, scope
            ):
                return False
        elif not edit.search.strip():
            return False
        elif _code(edit.search) != _code(edit.replace):
            if original is None or original.count(edit.search) != 1:
                return False
            if not _same_python(path, original, original.replace(edit.search, edit.replace), scope):
                return False
    return True


def _same_python(path: str, before: str, after: str, scope: EditScope) -> bool:
    return path.endswith(".py") and same_behaviour(before, after, docstrings=scope.docstrings)


def breaks_python(edits: Sequence[Edit], scope: EditScope) -> bool:
    """Whether a whole-file rewrite among ``edits`` leaves a Python file of ``scope`` that
    compiled no longer compiling, no longer defining one of its top-level functions or
    classes under any form, or reading a name it no longer binds (a dropped import; other
    edits are left to the dry run)."""
    shown = {f.path: f.text for f in scope.files}
    for edit in edits:
        path = edit.path.strip()
        before = shown.get(path)
        if not edit.whole or before is None:
            continue
        if breaks_syntax(before, edit.replace, path):
            return True
        if path.endswith(".py") and (
            lost_definitions(before, edit.replace, path)
            or unbound_names(before, edit.replace, path)
        ):
            return True
    return False


def without_test_edits(
    edits: Sequence[Edit], scope: EditScope, *, is_test: Callable[[str], bool]
) -> tuple[list[Edit], tuple[str, ...]]:
    """``edits`` without those of test files outside ``scope``, and the paths left out,
    when at least one edit is in scope; else ``edits`` as they are.

    A model without a contract often copies the test files it was shown after its fix:
    those edits are never applied (the tests judge the code, not the other way round), and
    the fix is not lost with them. A reply of test edits only is left to
    :func:`check_scope`, which refuses it with the files that may be edited.
    """
    allowed = set(scope.paths)
    inside = [e for e in edits if e.path.strip().removeprefix("./") in allowed]
    if not inside:
        return list(edits), ()
    left = [e for e in edits if e not in inside and is_test(e.path.strip().removeprefix("./"))]
    dropped = tuple(dict.fromkeys(e.path for e in left))
    return [e for e in edits if e not in left], dropped


def check_scope(edits: Sequence[Edit], scope: EditScope, *, is_test: Callable[[str], bool]) -> None:
    """Raise :class:`OutOfScope` when an edit names a file outside ``scope``.

    The feedback names the file, says why (a test file, or not a file of this task) and lists
    the files that may be edited, nearest first.
    """
    allowed = scope.paths
    for number, edit in enumerate(edits, start=1):
        path = edit.path.strip().removeprefix("./")
        if path in allowed:
            continue
        if is_test(path):
            why = f"{path} is a test file or test configuration; fix the code under test instead"
        else:
            close = difflib.get_close_matches(path, allowed, n=1, cutoff=0.5)
            suffix = next((p for p in allowed if path.endswith("/" + p)), None)
            guess = suffix or (close[0] if close else None)
            why = f"{path} is not a file you may edit here" + (
                f" (did you mean {guess}?)" if guess else ""
            )
        listed = ", ".join(allowed)
        raise OutOfScope(
            f"edit {number} names {path}, outside the files this reply may edit",
            feedback=(
                f"Edit {number}: {why}. The files you may edit are: {listed}. "
                "Use the path exactly as the file's heading shows it, and send the complete "
                "set of edits again."
            ),
        )
