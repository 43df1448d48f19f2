"""One sample decoded with drafts looked up in its own context (prompt-lookup decoding).

A repair reply copies much of what the prompt shows: a whole-file rewrite is the file again
with a line changed, a SEARCH block quotes lines verbatim. Where the last few tokens of the
reply also stand somewhere earlier in the context, the tokens that followed them there are a
likely continuation: they are evaluated together with the newly chosen token in one batch,
and the sampler then checks them one by one against the logits the batch gave, keeping them
while its own pick agrees. On a CPU the weights are read once per batch, so a batch of a few
tokens costs little more than one, and a copied run of text costs a fraction of its length.

The tokens kept are exactly the tokens the sampler picks (same grammar, same random draws,
one pick per position): the drafts only save evaluations. Draft length adapts: it doubles
while whole drafts are taken and halves when one is refused early; with no earlier match,
a step decodes the one token as usual. Imported only with llama-cpp-python installed.

On 2 CPU cores with the 1.5B model a drafted batch still costs about two thirds of a step
per token it carries (the weights are read once, the arithmetic is per token), so the gain
is bounded near 1.5x and short drafts waste least (``bench/draft_decode.py``: 1.35x fewer
decode seconds with drafts of 4, the same text).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import llama_cpp
import numpy as np

from patchloop.models._batch import Sample, TokenBatch, release

__all__ = ["Drafts", "decode_with_drafts"]

NGRAM = 3
"""Tokens of the reply's end that must match earlier context for a draft."""


class Drafts:
    """Where the text may be copying from: each run of :data:`NGRAM` tokens of the context
    maps to the position after its latest earlier occurrence."""

    def __init__(self, context: Sequence[int], n: int = NGRAM) -> None:
        self.n = n
        self.tokens: list[int] = []
        self._after: dict[tuple[int, ...], int] = {}
        for token in context:
            self.add(token)

    def add(self, token: int) -> None:
        """Append ``token``; the run it ends becomes findable once another token follows."""
        if len(self.tokens) >= self.n:
            self._after[tuple(self.tokens[-self.n :])] = len(self.tokens)
        self.tokens.append(token)

    def lookup(self, most: int) -> list[int]:
        """Up to ``most`` tokens that followed the latest earlier occurrence of the context's
        last :attr:`n` tokens; empty when they occur nowhere earlier."""
        if most <= 0 or len(self.tokens) < self.n:
            return []
        at = self._after.get(tuple(self.tokens[-self.n :]))
        if at is None:
            return []
        return self.tokens[at : at + most]


class _Decoder:
    """The state of one drafted decode: the context, the draft width, the next logits."""

    def __init__(
        self, llm: Any, vocab: Any, prompt: Sequence[int], sample: Sample, max_tokens: int
    ) -> None:
        self.llm, self.vocab, self.sample, self.max_tokens = llm, vocab, sample, max_tokens
        self.ctx = llm._ctx.ctx
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.drafts = Drafts(prompt)
        self.position = len(prompt)
        self.width = 4
        self.batches = 0
        self.chosen: int | None = None
        """A token already picked (where a draft was refused), to take next."""

    def take(self, token: int) -> bool:
        """Keep ``token`` in the sample; ``False`` once the sample has ended."""
        sample = self.sample
        if llama_cpp.llama_vocab_is_eog(self.vocab, token):
            sample.finish = "stop"
            return False
        sample.picker.accept(token)
        sample.tokens.append(token)
        self.drafts.add(token)
        if sample.stop_check(self.llm.detokenize([token])):
            sample.finish = "stop"
            return False
        if len(sample.tokens) >= self.max_tokens:
            sample.finish = "length"
            return False
        return True

    def step(self, row: np.ndarray, batch: TokenBatch, most: int) -> np.ndarray | None:
        """Pick and evaluate the next token with a draft after it, keep what the sampler
        agrees with; the logits for the next pick, or ``None`` once the sample has ended."""
        sample = self.sample
        token = self.chosen if self.chosen is not None else sample.picker.pick(row)
        self.chosen = None
        if not self.take(token):
            return None
        draft = self.drafts.lookup(min(self.width, self.max_tokens - len(sample.tokens)))
        batch.fill([(t, self.position + i, 0) for i, t in enumerate([token, *draft])])
        if llama_cpp.llama_decode(self.ctx, batch.batch) != 0:
            raise RuntimeError("llama_decode failed while decoding a sample")
        self.batches += 1
        size = self.llm.n_vocab()
        rows = [
            np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, i), shape=(size,))
            for i in range(len(draft) + 1)
        ]
        sample.decoded += 1
        self.position += 1
        row = rows[0].copy()
        kept = 0
        for i, guess in enumerate(draft):
            mine = sample.picker.pick(row)
            if mine != guess:
                self.chosen = mine
                break
            if not self.take(guess):
                break
            sample.decoded += 1
            self.position += 1
            kept += 1
            row = rows[i + 1].copy()
        if kept < len(draft):
            # The refused part of the draft leaves the context.
            llama_cpp.llama_memory_seq_rm(self.memory, 0, self.position, -1)
        if draft:
            self.width = (
                min(most, self.width * 2) if kept == len(draft) else max(2, self.width // 2)
            )
        return None if sample.finish else row


def decode_with_drafts(
    llm: Any,
    vocab: Any,
    prompt: Sequence[int],
    first_logits: np.ndarray,
    sample: Sample,
    *,
    max_tokens: int,
    deadline: float | None,
    most: int = 4,
) -> int:
    """Decode ``sample`` after ``prompt`` (already in sequence 0, its last logits
    ``first_logits``) with drafts of up to ``most`` tokens; fills its tokens and finish and
    returns how many batches were decoded."""
    decoder = _Decoder(llm, vocab, prompt, sample, max_tokens)
    batch = TokenBatch(most + 1)
    row: np.ndarray | None = first_logits
    try:
        while row is not None:
            if deadline is not None and time.monotonic() >= deadline:
                sample.finish = sample.finish or "timeout"
                break
            row = decoder.step(row, batch, most)
    finally:
        batch.close()
        release(llm, decoder.memory, [sample], len(prompt))
    return decoder.batches
