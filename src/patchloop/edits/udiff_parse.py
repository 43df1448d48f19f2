"""Reading unified diffs (with or without ``diff --git`` headers) into files and hunks. Pure.

Two modes. ``strict`` reads a stored diff as ``git apply`` would: hunk lengths come from the
``@@`` headers and a malformed hunk is an error. The lenient mode reads model output: hunk
headers may lack numbers (``@@ @@``) or miscount, context lines may have lost their leading
space, prose and code fences may surround the diff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from patchloop.errors import ParseError

__all__ = ["FileDiff", "Hunk", "HunkLine", "parse_error", "parse_unified_diff"]

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT = re.compile(r"diff --git (\"?a/.+?\"?) (\"?b/.+\"?)$")
_FENCE = re.compile(r"[ \t]*(?:`{3,}|~{3,})")
_UNSUPPORTED = ("rename from ", "rename to ", "copy from ", "copy to ", "GIT binary patch")


@dataclass(frozen=True)
class HunkLine:
    """One line of a hunk: ``op`` is ``" "``, ``"-"`` or ``"+"``."""

    op: str
    text: str
    newline: bool = True
    """False when followed by ``\\ No newline at end of file``."""


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` section."""

    old_start: int | None
    """Line number from the header (``None`` for a bare ``@@ @@``)."""
    lines: tuple[HunkLine, ...]

    def _side(self, ops: str) -> str:
        return "".join(h.text + ("\n" if h.newline else "") for h in self.lines if h.op in ops)

    def old(self) -> str:
        """Context and removed lines: the text the hunk expects."""
        return self._side(" -")

    def new(self) -> str:
        """Context and added lines: the text the hunk leaves."""
        return self._side(" +")


@dataclass(frozen=True)
class FileDiff:
    """The hunks for one file; a ``None`` path is ``/dev/null`` (file created or deleted)."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]

    @property
    def path(self) -> str:
        """The file the diff changes."""
        return self.new_path or self.old_path or ""


@dataclass
class _Builder:
    git: tuple[str | None, str | None] | None = None
    headers: tuple[str | None, str | None] | None = None
    new_file: bool = False
    deleted: bool = False
    hunks: list[Hunk] = field(default_factory=list)

    def build(self) -> FileDiff:
        old, new = self.headers or self.git or (None, None)
        if self.headers is None and self.git is not None:
            old = None if self.new_file else old
            new = None if self.deleted else new
        if old is None and new is None:
            raise parse_error("a file header names no file (both sides are /dev/null)")
        return FileDiff(old, new, tuple(self.hunks))


def parse_error(problem: str, line: int | None = None, text: str = "") -> ParseError:
    quoted = f"\nLine {line + 1} of your reply: {text[:200]!r}" if line is not None else ""
    return ParseError(
        f"udiff: {problem}",
        feedback=(
            f"Could not parse your diff: {problem}.{quoted}\n\n"
            "Write a unified diff: for each file a '--- a/PATH' and a '+++ b/PATH' line, then "
            "hunks that start with '@@ -START,COUNT +START,COUNT @@' and whose lines start "
            "with ' ' (unchanged), '-' (removed) or '+' (added). Send the complete set of "
            "edits again."
        ),
    )


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of paths with unusual characters."""
    if len(path) < 2 or not (path.startswith('"') and path.endswith('"')):
        return path
    out = bytearray()
    body = path[1:-1]
    escapes = {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "\\": b"\\", "a": b"\a", "b": b"\b"}
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            octal = re.match(r"[0-7]{3}", body[i + 1 :])
            if octal:
                out.append(int(octal.group(), 8))
                i += 4
                continue
            out += escapes.get(body[i + 1], body[i + 1].encode())
            i += 2
            continue
        out += c.encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def _side_path(raw: str) -> str | None:
    path = _unquote(raw.split("\t", maxsplit=1)[0].strip())
    return None if path == "/dev/null" else path


def _strip_prefixes(old: str | None, new: str | None) -> tuple[str | None, str | None]:
    """Drop git's ``a/`` and ``b/`` prefixes where the diff uses them."""
    if old is not None and old.startswith("a/") and (new is None or new.startswith("b/")):
        old = old[2:]
    if new is not None and new.startswith("b/") and (old is None or not old.startswith("a/")):
        new = new[2:]
    return old, new


def _is_header(lines: list[str], at: int) -> bool:
    line = lines[at]
    if line.startswith("diff --git "):
        return True
    return line.startswith("--- ") and at + 1 < len(lines) and lines[at + 1].startswith("+++ ")


def _read_strict(
    lines: list[str], at: int, old_left: int, new_left: int
) -> tuple[list[HunkLine], int]:
    body: list[HunkLine] = []
    while old_left > 0 or new_left > 0:
        if at >= len(lines):
            raise parse_error("the diff ends inside a hunk (truncated?)")
        line = lines[at]
        op, text = (line[:1], line[1:]) if line else (" ", "")
        if line.startswith("\\") and body:
            body[-1] = replace(body[-1], newline=False)
        elif op in " -+":
            body.append(HunkLine(op, text))
            old_left -= op in " -"
            new_left -= op in " +"
        else:
            raise parse_error("a hunk line does not start with ' ', '-' or '+'", at, line)
        at += 1
    if at < len(lines) and lines[at].startswith("\\") and body:
        body[-1] = replace(body[-1], newline=False)
        at += 1
    return body, at


def _read_lenient(
    lines: list[str], at: int, counts: tuple[int, int] | None
) -> tuple[list[HunkLine], int]:
    body: list[HunkLine] = []
    old_left, new_left = counts if counts else (-1, -1)
    while at < len(lines):
        line = lines[at]
        if line.startswith("\\"):
            if body:
                body[-1] = replace(body[-1], newline=False)
            at += 1
            continue
        if line.startswith("@@") or _is_header(lines, at) or _FENCE.match(line):
            break
        if not line:
            if counts and old_left <= 0 and new_left <= 0:
                break
            nxt = at + 1
            while nxt < len(lines) and not lines[nxt]:
                nxt += 1
            if (
                nxt < len(lines)
                and lines[nxt][:1] in (" ", "-", "+")
                and not _is_header(lines, nxt)
            ):
                body.append(HunkLine(" ", ""))
                old_left, new_left = old_left - 1, new_left - 1
                at += 1
                continue
            break
        if line[0] not in " -+":
            nxt = at + 1
            if (
                nxt < len(lines)
                and lines[nxt][:1] in (" ", "-", "+")
                and not _is_header(lines, nxt)
            ):
                raise parse_error(
                    "a line inside a hunk does not start with ' ', '-' or '+'", at, line
                )
            break
        body.append(HunkLine(line[0], line[1:]))
        old_left -= line[0] in " -"
        new_left -= line[0] in " +"
        at += 1
    return body, at


def _read_hunk(lines: list[str], at: int, *, strict: bool) -> tuple[Hunk, int]:
    m = _HUNK.match(lines[at])
    if m is None:
        if strict:
            raise parse_error(
                "a hunk header is not '@@ -START,COUNT +START,COUNT @@'", at, lines[at]
            )
        body, end = _read_lenient(lines, at + 1, None)
        return Hunk(None, tuple(body)), end
    old_start = int(m.group(1))
    old_len = int(m.group(2)) if m.group(2) is not None else 1
    new_len = int(m.group(4)) if m.group(4) is not None else 1
    if strict:
        body, end = _read_strict(lines, at + 1, old_len, new_len)
    else:
        body, end = _read_lenient(lines, at + 1, (old_len, new_len))
    return Hunk(old_start, tuple(body)), end


def parse_unified_diff(text: str, *, strict: bool = False) -> list[FileDiff]:
    """Files and hunks of the unified diff in ``text``, in order; prose outside is ignored.

    Raises :class:`ParseError` for a hunk before any file header, renames, copies, binary
    patches, and (``strict``) malformed hunks.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and not lines[-1]:
        lines.pop()
    files: list[FileDiff] = []
    current: _Builder | None = None
    at = 0
    while at < len(lines):
        line = lines[at]
        if line.startswith("diff --git "):
            if current is not None:
                files.append(current.build())
            m = _GIT.match(line)
            paths = (_unquote(m.group(1)), _unquote(m.group(2))) if m else (None, None)
            current = _Builder(git=_strip_prefixes(*paths) if m else None)
            at += 1
        elif _is_header(lines, at):
            if current is None or current.headers is not None or current.hunks:
                if current is not None:
                    files.append(current.build())
                current = _Builder()
            old, new = _side_path(line[4:]), _side_path(lines[at + 1][4:])
            current.headers = _strip_prefixes(old, new)
            at += 2
        elif line.startswith("@@"):
            if current is None:
                raise parse_error(
                    "a hunk comes before any '--- a/PATH' / '+++ b/PATH' header", at, line
                )
            hunk, at = _read_hunk(lines, at, strict=strict)
            if hunk.lines:
                current.hunks.append(hunk)
        elif current is not None and line.startswith(_UNSUPPORTED):
            raise parse_error("renaming, copying and binary patches are not supported", at, line)
        elif current is not None and line.startswith("Binary files "):
            raise parse_error("binary files cannot be patched", at, line)
        elif current is not None and not current.hunks and line.startswith("new file mode"):
            current.new_file = True
            at += 1
        elif current is not None and not current.hunks and line.startswith("deleted file mode"):
            current.deleted = True
            at += 1
        else:
            # index and mode lines, like prose, carry nothing to apply.
            at += 1
    if current is not None:
        files.append(current.build())
    return files
