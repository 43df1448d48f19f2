"""Prompt layout with a byte-stable prefix.

Every prompt of a run starts with the same bytes: the system rules and edit-format instructions,
the repository map, the repository files in path order, then the task and the baseline failures.
Attempts and their feedback are appended after it as chat turns, so consecutive prompts share
everything up to the newest turn and servers with prefix caching re-use it. Files that a later
failure points at are appended after the files already shown, never in between, so only the
task, failures and history after them are encoded again. Nothing variable (times, run ids,
counters) goes before the tail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from patchloop.domain import Message

if TYPE_CHECKING:
    from patchloop.context.relocalize import FileSource

__all__ = [
    "ContextFile",
    "PromptLayout",
    "Turn",
    "render_file",
    "render_for_prefix",
    "render_repo_map",
    "shared_prefix",
]

SYSTEM_RULES = """\
You fix bugs in a repository so that its failing tests pass.

- Change the code under test. Never edit, delete or skip tests, test configuration or
  conftest.py files: such changes are rejected.
- Make the smallest change that fixes the bug, in the style of the surrounding code.
- Reply with edits only, in the format below.
"""

#: Share of the prompt budget that files added after the first prompt may fill the fixed part
#: (system and first user message) up to; the rest stays for the attempt history.
FIXED_SHARE_LIMIT = 0.75

FENCE_LANGS = {
    ".py": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".toml": "toml",
    ".json": "json",
    ".md": "markdown",
    ".cfg": "ini",
    ".ini": "ini",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".yaml": "yaml",
    ".yml": "yaml",
}


@dataclass(frozen=True)
class ContextFile:
    """A file shown to the model, whole or as excerpts (``spans`` of 1-based line ranges)."""

    path: str
    text: str
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Turn:
    """One earlier attempt: what the model said and what happened."""

    reply: str
    feedback: str


def _fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return fence


def _lang(path: str) -> str:
    dot = path.rfind(".")
    return FENCE_LANGS.get(path[dot:], "") if dot >= 0 else ""


def render_file(file: ContextFile) -> str:
    """Markdown section of one file; excerpts are separate blocks with their line ranges."""
    lang = _lang(file.path)
    if not file.spans:
        fence = _fence(file.text)
        body = file.text if file.text.endswith("\n") or not file.text else file.text + "\n"
        return f"## {file.path}\n{fence}{lang}\n{body}{fence}\n"
    lines = file.text.splitlines(keepends=True)
    parts = [f"## {file.path} (excerpts; other lines omitted)\n"]
    for start, end in file.spans:
        chunk = "".join(lines[start - 1 : end])
        if not chunk.endswith("\n"):
            chunk += "\n"
        fence = _fence(chunk)
        parts.append(f"### lines {start}-{end}\n{fence}{lang}\n{chunk}{fence}\n")
    return "".join(parts)


def render_repo_map(text: str) -> str:
    """The repository map section ("" without a map)."""
    if not text.strip():
        return ""
    body = text if text.endswith("\n") else text + "\n"
    fence = _fence(body)
    return (
        "# Repository map\n\n"
        "Other files of the repository and their definitions, most relevant first "
        "(line number: first line of the definition).\n\n"
        f"{fence}text\n{body}{fence}\n\n"
    )


class PromptLayout:
    """Builds the messages of each iteration from a fixed prefix and the growing history.

    ``repo_map`` (ranked definitions of files not shown) goes before the files; ``source`` is
    where files named by later failures are read from (see :meth:`add_files`).
    """

    def __init__(
        self,
        *,
        instructions: str,
        files: Sequence[ContextFile],
        task: str,
        failures: str,
        count_tokens: Callable[[str], int],
        max_tokens: int,
        repo_map: str = "",
        source: FileSource | None = None,
    ) -> None:
        self.system = Message(role="system", content=f"{SYSTEM_RULES}\n{instructions.strip()}\n")
        ordered = sorted(files, key=lambda f: f.path)
        self._head = render_repo_map(repo_map) + "# Repository files\n\n"
        self._head += "".join(render_file(f) + "\n" for f in ordered)
        self._tail = (
            f"# Task\n\n{task.strip() or 'Make the failing tests pass.'}\n\n"
            f"# Failing tests\n\n{failures.strip()}\n"
        )
        self.first = Message(role="user", content=self._head + self._tail)
        self.files = tuple(ordered)
        self.added: tuple[ContextFile, ...] = ()
        """Files appended by :meth:`add_files`, in the order they were added."""
        self.repo_map = repo_map
        self.source = source
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self._fixed: int | None = None

    @property
    def paths(self) -> frozenset[str]:
        """Paths of every file in the prompt."""
        return frozenset(f.path for f in self.files)

    def restyled(self, instructions: str) -> PromptLayout:
        """The same prompt with other edit-format instructions (a model asked in two formats);
        the copy grows on its own from here (:meth:`add_files`)."""
        other = copy.copy(self)
        other.system = Message(role="system", content=f"{SYSTEM_RULES}\n{instructions.strip()}\n")
        other._fixed = None
        return other

    def cache_points(self) -> tuple[tuple[int, int], ...]:
        """Where the prompt stops being the same across runs: after the system message (the
        same for every task) and after the repository map and files (the same for every run
        on this repository state), as ``(message index, characters)``."""
        return ((0, len(self.system.content)), (1, len(self._head)))

    def fixed_tokens(self) -> int:
        """Tokens of the part every request repeats (system and first user message)."""
        if self._fixed is None:
            # Counted once per change: with a real tokenizer the prefix is the costly part.
            system, first = self.system.content, self.first.content
            self._fixed = self.count_tokens(system) + self.count_tokens(first)
        return self._fixed

    def room(self) -> int:
        """Tokens that added files may still take (see :data:`FIXED_SHARE_LIMIT`)."""
        return max(0, int(self.max_tokens * FIXED_SHARE_LIMIT) - self.fixed_tokens())

    def add_files(self, files: Iterable[ContextFile]) -> tuple[ContextFile, ...]:
        """Append ``files`` after the files already shown, as far as :meth:`room` allows.

        Everything before the end of the files region keeps its bytes; the task, failures and
        history move later. Files already in the prompt and files that do not fit are skipped.
        Returns the files added.
        """
        room = self.room()
        known = set(self.paths)
        added: list[ContextFile] = []
        for file in files:
            if file.path in known:
                continue
            block = render_file(file) + "\n"
            cost = self.count_tokens(block)
            if cost > room:
                continue
            self._head += block
            room -= cost
            known.add(file.path)
            added.append(file)
        if added:
            self.first = Message(role="user", content=self._head + self._tail)
            self._fixed = None
            self.files += tuple(added)
            self.added += tuple(added)
        return tuple(added)

    def messages(self, history: Sequence[Turn]) -> tuple[Message, ...]:
        """Messages for the next request, dropping the oldest turns past the token budget."""
        fixed = self.fixed_tokens()
        turns = list(history)
        dropped = 0
        # Keep the newest turns whole; a shorter history breaks the cached prefix only once.
        while len(turns) > 1 and fixed + sum(self._turn_tokens(t) for t in turns) > self.max_tokens:
            turns.pop(0)
            dropped += 1
        out = [self.system, self.first]
        for i, turn in enumerate(turns):
            out.append(Message(role="assistant", content=turn.reply))
            note = f"({dropped} earlier attempts omitted.)\n\n" if dropped and i == 0 else ""
            out.append(Message(role="user", content=note + turn.feedback))
        return tuple(out)

    def _turn_tokens(self, turn: Turn) -> int:
        return self.count_tokens(turn.reply) + self.count_tokens(turn.feedback)


def render_for_prefix(messages: Sequence[Message]) -> str:
    """The messages as one string, for measuring how much two prompts share."""
    return "".join(f"<|{m.role}|>\n{m.content}\n" for m in messages)


def shared_prefix(a: str, b: str) -> int:
    """Length of the common prefix of ``a`` and ``b``."""
    n = min(len(a), len(b))
    lo, hi = 0, n
    # Binary search on slices runs at C speed; prompts can be hundreds of kilobytes.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo
