"""Plain-text rendering of chat messages, for servers that take one prompt string.

The rendering is used by TGI when the server cannot apply the model's own chat template
(``/chat_tokenize`` is missing, TGI < 2) and by the scripted model to simulate a prefix cache::

    <|system|>
    {system content}
    <|user|>
    {user content}
    <|assistant|>

Each message is a role header line followed by its content and a newline; the prompt ends
with an open ``<|assistant|>`` header. Consecutive prompts that share leading messages share a
byte-identical prefix, as a chat template would.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from patchloop.domain import Message

__all__ = ["common_prefix", "render_plain"]


def render_plain(messages: Sequence[Message]) -> str:
    """The messages as one prompt string (see the module docstring)."""
    parts = [f"<|{m.role}|>\n{m.content}\n" for m in messages]
    return "".join(parts) + "<|assistant|>\n"


def common_prefix(a: str, b: str) -> str:
    """The longest common prefix of ``a`` and ``b``."""
    # Character-wise comparison is what is wanted here: these are prompts, not paths.
    return os.path.commonprefix([a, b])  # noqa: RUF071
