"""Instruction texts of the edit formats, kept as Markdown files beside the formats."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["load_prompt"]

_RULES_MARK = "{{rules}}"


@cache
def load_prompt(name: str) -> str:
    """The instructions in ``<name>_prompt.md``, with the shared rules put in at ``{{rules}}``.

    Cached, and byte-identical on every call, because the text opens the prompt prefix that
    consecutive iterations share.
    """
    folder = resources.files("patchloop.edits")
    text = folder.joinpath(f"{name}_prompt.md").read_text(encoding="utf-8")
    rules = folder.joinpath("rules_prompt.md").read_text(encoding="utf-8").strip()
    return text.replace(_RULES_MARK, rules)
