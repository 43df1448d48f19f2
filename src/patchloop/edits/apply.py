"""Applying edits to a tree: in memory first, to disk only when asked; the result is a Patch.

Every edit is checked (path safety, match) before anything is written, so a rejected set of
edits leaves the tree untouched. Files keep their line endings (CRLF stays CRLF), a UTF-8 byte
order mark, a missing final newline, and a Python file's declared encoding (PEP 263).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.domain import Edit, FileChange, Patch
from patchloop.edits.diff import make_patch
from patchloop.edits.keep_docs import restore_dropped_docs
from patchloop.edits.matching import find_match
from patchloop.edits.paths import resolve_path
from patchloop.errors import ApplyError
from patchloop.repo.text import SourceEncodingError, decode_source, encode_source

__all__ = ["Workspace", "apply_edits", "write_patch"]

_BOM = "\ufeff"


@dataclass
class _File:
    """One file as loaded, and its working text (``\\n`` endings, newline-terminated)."""

    rel: str
    path: Path
    original: str | None
    work: str | None
    crlf: bool = False
    bom: bool = False
    padded: bool = False
    """``work`` has a final newline that the file lacks."""
    shifts: list[tuple[int, int]] = field(default_factory=list)
    """(line, lines added) of every edit so far, to move later line hints."""

    def body(self) -> str | None:
        """The working text without the added final newline (``\\n`` endings)."""
        if self.work is None:
            return None
        if self.padded and self.work.endswith("\n"):
            return self.work[:-1]
        return self.work

    def text(self) -> str | None:
        """The file's content after the edits, in its own form."""
        text = self.body()
        if text is None:
            return None
        if self.crlf:
            text = text.replace("\n", "\r\n")
        return _BOM + text if self.bom else text

    def set_content(self, content: str) -> None:
        """Replace the whole working text (new or empty files)."""
        self.padded = bool(content) and not content.endswith("\n")
        self.work = content + "\n" if self.padded else content


def _load(rel: str, path: Path) -> _File:
    if not path.exists():
        return _File(rel, path, None, None)
    if not path.is_file():
        raise ApplyError(
            f"{rel} is not a regular file",
            feedback=f"{rel} is a directory or special file, not a text file. Check the path.",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ApplyError(f"cannot read {rel}: {exc.strerror}") from exc
    try:
        original = decode_source(rel, data)
    except SourceEncodingError as exc:
        raise ApplyError(
            f"{rel} is not UTF-8 text, nor text in an encoding it declares",
            feedback=(
                f"{rel} is not UTF-8 text (binary, or another encoding), so it cannot be "
                "edited here. Leave it unchanged."
            ),
        ) from exc
    body = original.removeprefix(_BOM)
    crlf = "\r\n" in body and body.count("\r\n") == body.count("\n")
    loaded = _File(rel, path, original, None, crlf=crlf, bom=original.startswith(_BOM))
    loaded.set_content(body.replace("\r\n", "\n") if crlf else body)
    return loaded


def _missing(f: _File) -> ApplyError:
    hint = ""
    parent = f.path.parent
    if parent.is_dir():
        names = sorted(p.name for p in parent.iterdir())
        close = difflib.get_close_matches(f.path.name, names, n=3)
        if close:
            prefix = f.rel.rpartition("/")[0]
            shown = ", ".join(f"{prefix}/{c}" if prefix else c for c in close)
            hint = f" Did you mean {shown}?"
    return ApplyError(
        f"{f.rel} does not exist",
        feedback=(
            f"{f.rel} does not exist.{hint} To create a new file, leave the text to find "
            "empty; to change a file, use its path exactly as shown."
        ),
    )


class Workspace:
    """Files of one tree being edited in memory; :meth:`write` puts the result on disk."""

    def __init__(self, root: Path, *, strict: bool = False) -> None:
        self.root = root
        #: Exact matches only, nearest the line hint (for re-applying stored diffs).
        self.strict = strict
        self._files: dict[str, _File] = {}
        self._count = 0

    def file(self, path: str) -> _File:
        """The loaded file at ``path`` (checked for safety, loaded once)."""
        rel, absolute = resolve_path(self.root, path)
        if rel not in self._files:
            self._files[rel] = _load(rel, absolute)
        return self._files[rel]

    def edit(self, edit: Edit) -> None:
        """Apply one edit to the in-memory text of its file."""
        self._count += 1
        f = self.file(edit.path)
        where = f"edit {self._count} ({f.rel})"
        search = edit.search.replace("\r\n", "\n")
        replace = edit.replace.replace("\r\n", "\n")
        if f.bom:
            # Diffs show the byte order mark as part of line 1; the working text has none.
            search, replace = search.removeprefix(_BOM), replace.removeprefix(_BOM)
        if edit.whole:
            self._rewrite(f, replace)
            return
        if not search:
            self._insert(f, replace, edit.line_hint)
            return
        if f.work is None:
            raise _missing(f)
        # Whole lines in, whole lines out; a stored diff may drop a final newline on purpose.
        if not self.strict and search.endswith("\n") and replace and not replace.endswith("\n"):
            replace += "\n"
        hint = edit.line_hint
        if hint is not None:
            for line, delta in f.shifts:
                if line <= hint:
                    hint += delta
        match = find_match(f.work, search, replace, where=where, hint=hint, strict=self.strict)
        removed = f.work.count("\n", match.start, match.end)
        f.work = f.work[: match.start] + match.replacement + f.work[match.end :]
        f.shifts.append((match.line, match.replacement.count("\n") - removed))

    def _rewrite(self, f: _File, content: str) -> None:
        """The file's whole new content (a new file when it does not exist). A Python file
        keeps the documentation a rewrite left out at its ends (see ``keep_docs``)."""
        if f.work is not None and f.work.endswith("\n") and content and not content.endswith("\n"):
            content += "\n"
        if f.work is not None and f.rel.endswith(".py") and not self.strict:
            content = restore_dropped_docs(f.work, content)
        f.work = content
        f.shifts.clear()

    def _insert(self, f: _File, content: str, hint: int | None) -> None:
        """Empty search text: create the file, fill an empty one, or insert after line ``hint``."""
        if f.work is None:
            if hint:
                raise _missing(f)
            f.set_content(content)
        elif not f.work:
            f.set_content(content)
        elif hint is not None:
            lines = f.work.split("\n")[:-1]
            if hint > len(lines) and self.strict:
                raise ApplyError(
                    f"cannot insert after line {hint} of {f.rel}: it has {len(lines)} lines"
                )
            at = min(max(hint, 0), len(lines))
            text = content if not content or content.endswith("\n") else content + "\n"
            f.work = "".join(line + "\n" for line in lines[:at]) + text
            f.work += "".join(line + "\n" for line in lines[at:])
            f.shifts.append((at, text.count("\n")))
        else:
            raise ApplyError(
                f"{f.rel} already exists",
                feedback=(
                    f"{f.rel} already exists, so it cannot be created. To change it, give the "
                    "exact lines to replace as the text to find."
                ),
            )

    def delete(self, path: str, expected: str) -> None:
        """Delete ``path`` if its content is ``expected`` (a stored diff's deletion)."""
        f = self.file(path)
        if f.work is None:
            raise _missing(f)
        if f.body() != (expected.removeprefix(_BOM) if f.bom else expected):
            raise ApplyError(f"cannot delete {f.rel}: its content differs from the diff")
        f.work = None

    def changes(self) -> list[FileChange]:
        """Every touched file before and after."""
        return [
            FileChange(path=f.rel, before=f.original, after=f.text()) for f in self._files.values()
        ]

    def write(self) -> None:
        """Write every changed file (creating parent directories), delete deleted ones.

        Every file is encoded first, so text its declared encoding cannot hold writes nothing.
        """
        planned: list[tuple[_File, bytes | None]] = []
        for f in self._files.values():
            after = f.text()
            if after == f.original:
                continue
            planned.append((f, None if after is None else _encode(f.rel, after)))
        for f, data in planned:
            try:
                if data is None:
                    f.path.unlink()
                else:
                    f.path.parent.mkdir(parents=True, exist_ok=True)
                    f.path.write_bytes(data)
            except OSError as exc:
                raise ApplyError(f"cannot write {f.rel}: {exc.strerror}") from exc


def _encode(rel: str, text: str) -> bytes:
    try:
        return encode_source(rel, text)
    except SourceEncodingError as exc:
        raise ApplyError(
            str(exc), feedback=f"{exc}. Keep {rel} to characters its encoding can hold."
        ) from exc


def write_patch(root: Path, patch: Patch) -> None:
    """Write the files of ``patch`` as they are after it into the tree at ``root`` (a copy of
    the tree it was made against): line endings as they are, each file in the encoding it
    declares; deleted files are removed."""
    for change in patch.changes:
        target = root / change.path
        if change.after is None:
            target.unlink(missing_ok=True)
            continue
        data = _encode(change.path, change.after)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def apply_edits(
    root: Path,
    edits: Sequence[Edit],
    *,
    dry_run: bool = True,
    strict: bool = False,
    label: str = "",
) -> Patch:
    """Apply ``edits`` in order to the tree at ``root`` and return the resulting patch.

    Several edits to one file apply one after the other to its in-memory text. With
    ``dry_run`` nothing is written; otherwise the changed files are written once every edit
    has applied. Edits that change nothing give an empty patch. Raises
    :class:`~patchloop.errors.UnsafeEdit` or :class:`~patchloop.errors.ApplyError`.
    """
    workspace = Workspace(root, strict=strict)
    for edit in edits:
        workspace.edit(edit)
    patch = make_patch(workspace.changes(), label)
    if not dry_run:
        workspace.write()
    return patch
