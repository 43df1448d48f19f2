"""Several samples of one prompt, decoded together over one evaluation of the prompt.

The prompt is evaluated once, into sequence 0 of the context; its KV cells are then shared
with sequences 1..K-1 (``llama_memory_seq_cp`` marks the same cells as belonging to each, no
copy), and every step decodes one token of each live sample in a single batch. K samples thus
cost one prefill plus K tokens per step, which on a CPU costs little more than one token per
step (the weights are read once per step either way).

Each sample has its own sampler (temperature, seed, grammar state) and its own stop rules;
afterwards sequence 0 keeps the prompt and the first sample's tokens, the others are removed.
Imported only with llama-cpp-python installed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import llama_cpp
import numpy as np

from patchloop.models._sampler import TokenPicker

__all__ = ["Sample", "TokenBatch", "decode_samples", "release"]


@dataclass
class Sample:
    """One sample being decoded: its sampler, its tokens and why it stopped."""

    picker: TokenPicker
    stop_check: Callable[[bytes], bool]
    """Called with each token's bytes; ``True`` ends the sample (a stop string, a repeat)."""
    tokens: list[int] = field(default_factory=list)
    decoded: int = 0
    """Leading tokens whose activations are in the context (a token that ended the sample
    never was decoded)."""
    finish: str = ""
    """``stop``, ``length`` or ``timeout`` once it ended."""


class TokenBatch:
    """A llama_batch of tokens, each with its position and sequence, every one with logits."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.batch = llama_cpp.llama_batch_init(size, 0, 1)

    def fill(self, entries: Sequence[tuple[int, int, int]]) -> None:
        """``(token, position, sequence)`` per entry, in batch order."""
        batch = self.batch
        batch.n_tokens = len(entries)
        for i, (token, position, seq) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = 1

    def close(self) -> None:
        llama_cpp.llama_batch_free(self.batch)


def decode_samples(
    llm: Any,
    vocab: Any,
    prompt_length: int,
    first_logits: np.ndarray,
    samples: Sequence[Sample],
    *,
    max_tokens: int,
    deadline: float | None,
) -> int:
    """Decode ``samples`` after a prompt of ``prompt_length`` tokens already in sequence 0,
    whose last token's logits are ``first_logits``; fills each sample's tokens and finish and
    returns how many batches were decoded."""
    ctx = llm._ctx.ctx
    memory = llama_cpp.llama_get_memory(ctx)
    for seq in range(1, len(samples)):
        llama_cpp.llama_memory_seq_rm(memory, seq, -1, -1)
        llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
    batch = TokenBatch(len(samples))
    rows: dict[int, np.ndarray] = dict.fromkeys(range(len(samples)), first_logits)
    batches = 0
    try:
        for step in range(max_tokens):
            if deadline is not None and time.monotonic() >= deadline:
                for sample in samples:
                    sample.finish = sample.finish or "timeout"
                break
            entries: list[tuple[int, int, int]] = []
            for seq, sample in enumerate(samples):
                if sample.finish:
                    continue
                token = sample.picker.pick(rows[seq])
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    sample.finish = "stop"
                    continue
                sample.picker.accept(token)
                sample.tokens.append(token)
                if sample.stop_check(llm.detokenize([token])):
                    sample.finish = "stop"
                    continue
                if len(sample.tokens) >= max_tokens:
                    sample.finish = "length"
                    continue
                entries.append((token, prompt_length + step, seq))
                sample.decoded += 1
            if not entries:
                break
            batch.fill(entries)
            if llama_cpp.llama_decode(ctx, batch.batch) != 0:
                raise RuntimeError("llama_decode failed while decoding samples")
            batches += 1
            vocab_size = llm.n_vocab()
            rows = {
                seq: np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits_ith(ctx, i), shape=(vocab_size,)
                ).copy()
                for i, (_, _, seq) in enumerate(entries)
            }
        for sample in samples:
            sample.finish = sample.finish or "length"
    finally:
        batch.close()
        release(llm, memory, samples, prompt_length)
    return batches


def release(llm: Any, memory: Any, samples: Sequence[Sample], prompt_length: int) -> None:
    """Leave the context as one prompt: sequence 0 keeps the prompt and the first sample's
    decoded tokens (so the next request reuses them), every other sequence is removed."""
    for seq in range(1, len(samples)):
        llama_cpp.llama_memory_seq_rm(memory, seq, -1, -1)
    kept = samples[0].tokens[: samples[0].decoded] if samples else []
    llama_cpp.llama_memory_seq_rm(memory, 0, prompt_length + len(kept), -1)
    llm.input_ids[prompt_length : prompt_length + len(kept)] = kept
    llm.n_tokens = prompt_length + len(kept)
