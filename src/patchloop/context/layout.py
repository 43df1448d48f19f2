"""Prompt layout with a byte-stable prefix.

Every prompt of a run starts with the same bytes: the system rules and edit-format instructions,
then the repository files in path order, then the task and the baseline failures. Attempts and
their feedback are appended after it as chat turns, so consecutive prompts share everything up
to the newest turn and servers with prefix caching re-use it. Nothing variable (times, run ids,
counters) goes before the tail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from patchloop.domain import Message

__all__ = ["ContextFile", "PromptLayout", "Turn", "render_for_prefix", "shared_prefix"]

SYSTEM_RULES = """\
You are a careful software engineer fixing a bug in a repository so that its failing tests pass.

Rules:
- Change the code under test. Never edit, delete or skip tests, test configuration or
  conftest.py files: such patches are rejected.
- Keep the change minimal and in the style of the surrounding code.
- The files shown are the ORIGINAL repository contents. Every reply must contain the complete
  set of edits relative to those original files; earlier attempts were discarded.
- Reply with edits only, in the format below.
"""

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


class PromptLayout:
    """Builds the messages of each iteration from a fixed prefix and the growing history."""

    def __init__(
        self,
        *,
        instructions: str,
        files: Sequence[ContextFile],
        task: str,
        failures: str,
        count_tokens: Callable[[str], int],
        max_tokens: int,
    ) -> None:
        self.system = Message(role="system", content=f"{SYSTEM_RULES}\n{instructions.strip()}\n")
        sections = ["# Repository files\n\n"]
        sections += [render_file(f) + "\n" for f in sorted(files, key=lambda f: f.path)]
        sections.append(f"# Task\n\n{task.strip() or 'Make the failing tests pass.'}\n\n")
        sections.append(f"# Failing tests\n\n{failures.strip()}\n")
        self.first = Message(role="user", content="".join(sections))
        self.files = tuple(files)
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens

    def messages(self, history: Sequence[Turn]) -> tuple[Message, ...]:
        """Messages for the next request, dropping the oldest turns past the token budget."""
        fixed = self.count_tokens(self.system.content) + self.count_tokens(self.first.content)
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
