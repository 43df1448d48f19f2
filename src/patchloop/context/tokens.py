"""Token counting: the model's tokenizer where known, otherwise a documented estimate.

The estimate is ``ceil(utf8_bytes / 3)``. Byte-level BPE tokenizers of current code models
average about 3.3-4 bytes per token on source code and English prose, so dividing by 3
over-counts by 10-30%: a prompt that fits the estimated budget fits the real one.
"""

from __future__ import annotations

import math

__all__ = ["BYTES_PER_TOKEN", "estimate_tokens"]

#: Bytes per token assumed by :func:`estimate_tokens` (deliberately low, so counts run high).
BYTES_PER_TOKEN = 3.0


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text`` (an upper bound for common code tokenizers)."""
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)
