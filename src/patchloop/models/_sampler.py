"""Token choice for the embedded engine: grammar checked on the few likely tokens first.

llama.cpp's grammar sampler checks every token of the vocabulary (150k for Qwen) against every
live grammar stack, each step; with a grammar that lists the lines of a file that costs more
than the model itself on a CPU. The tokens that can win are few: greedy decoding takes the
most likely token the grammar admits, and sampling keeps at most ``top_k`` tokens. So the
grammar is asked about the ``top_k`` most likely tokens first, and about the whole vocabulary
only when it admits none of them. Greedy output is exactly what full-vocabulary masking gives;
sampled output differs only where the grammar admits fewer than ``top_k`` of the likely tokens
(then the choice is among those it admits, never a token outside the top ``top_k``).

Imported only with llama-cpp-python installed (see :mod:`patchloop.models._llamacpp_engine`).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np

__all__ = ["Choice", "GrammarError", "SamplerSettings", "TokenPicker", "first_refused"]

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class GrammarError(RuntimeError):
    """llama.cpp could not parse a grammar."""


@dataclass(frozen=True)
class Choice:
    """One pick: ``token``, and ``other`` (-1: none), the most likely admitted token besides
    it, ``margin`` raw logits below it (small: the model hesitated there)."""

    token: int
    other: int
    margin: float


def _choice(token: int, ids: np.ndarray, scores: np.ndarray) -> Choice:
    finite = np.isfinite(scores)
    chosen = scores[finite & (ids == token)]
    rest = finite & (ids != token)
    if not rest.any() or not len(chosen):
        return Choice(token=token, other=-1, margin=float("inf"))
    best = int(np.argmax(np.where(rest, scores, -np.inf)))
    return Choice(token=token, other=int(ids[best]), margin=float(chosen[0] - scores[best]))


@dataclass(frozen=True)
class SamplerSettings:
    """How tokens are drawn: greedy at ``temperature`` 0, else top-k, top-p and min-p."""

    temperature: float = 0.0
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    seed: int = 0


class _Grammar:
    """A llama.cpp grammar sampler, used only to mask candidates and to advance its state."""

    def __init__(self, vocab: Any, gbnf: str) -> None:
        self._ptr = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
        if not self._ptr:
            raise GrammarError("llama.cpp could not parse the grammar")

    def mask(self, ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """``logits`` of ``ids`` with the tokens the grammar forbids set to ``-inf``."""
        size = len(ids)
        buffer = (llama_cpp.llama_token_data * size)()
        view = np.frombuffer(memoryview(buffer), dtype=_TOKEN_DATA, count=size)
        view["id"] = ids
        view["logit"] = logits
        view["p"] = 0.0
        array = llama_cpp.llama_token_data_array(data=buffer, size=size, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self._ptr, ctypes.byref(array))
        masked: np.ndarray = view["logit"].copy()
        return masked

    def accept(self, token: int) -> None:
        llama_cpp.llama_sampler_accept(self._ptr, token)

    def close(self) -> None:
        if self._ptr:
            llama_cpp.llama_sampler_free(self._ptr)
            self._ptr = None


class TokenPicker:
    """Chooses each next token from the logits, under an optional GBNF grammar."""

    def __init__(
        self, vocab: Any, settings: SamplerSettings, grammar: str | None, *, track: bool = False
    ) -> None:
        self.settings = settings
        self._grammar = _Grammar(vocab, grammar) if grammar else None
        self._rng = np.random.default_rng(settings.seed)
        self.full_scans = 0
        """Steps on which no likely token was admitted and the whole vocabulary was masked."""
        self.track = track
        self.choices: list[Choice] = []
        """With ``track``, each pick: the token, the best other admitted token and how far
        below it was (raw logits), in order."""

    def pick(self, logits: np.ndarray) -> int:
        """The next token for ``logits`` (one row over the vocabulary); not yet accepted."""
        k = max(1, min(self.settings.top_k, len(logits)))
        top = np.argpartition(-logits, k - 1)[:k]
        ids, scores = top.astype(np.int32), logits[top].astype(np.float32)
        if self._grammar is not None:
            scores = self._grammar.mask(ids, scores)
            if not np.isfinite(scores).any():
                self.full_scans += 1
                ids = np.arange(len(logits), dtype=np.int32)
                scores = self._grammar.mask(ids, logits.astype(np.float32))
                allowed = np.isfinite(scores)
                if not allowed.any():
                    raise GrammarError("the grammar admits no token here")
                ids, scores = ids[allowed], scores[allowed]
                order = np.argsort(-scores)[:k]
                ids, scores = ids[order], scores[order]
        token = self._choose(ids, scores)
        if self.track:
            self.choices.append(_choice(token, ids, scores))
        return token

    def prime(self, tokens: list[int]) -> None:
        """Advance the grammar past ``tokens`` chosen elsewhere (a forced reply head)."""
        for token in tokens:
            self.accept(token)

    def _choose(self, ids: np.ndarray, scores: np.ndarray) -> int:
        finite = np.isfinite(scores)
        ids, scores = ids[finite], scores[finite]
        order = np.argsort(-scores, kind="stable")
        ids, scores = ids[order], scores[order]
        settings = self.settings
        if settings.temperature <= 0.0 or len(ids) == 1:
            return int(ids[0])
        z = (scores - scores[0]) / settings.temperature
        probs = np.exp(z)
        probs /= probs.sum()
        keep = probs >= settings.min_p * probs[0]
        cumulative = np.cumsum(probs)
        # Smallest head whose mass reaches top_p (the token that crosses it included).
        keep &= np.concatenate(([True], cumulative[:-1] < settings.top_p))
        ids, probs = ids[keep], probs[keep]
        probs /= probs.sum()
        return int(self._rng.choice(ids, p=probs))

    def accept(self, token: int) -> None:
        """Advance the grammar past ``token``."""
        if self._grammar is not None:
            self._grammar.accept(token)

    def close(self) -> None:
        """Free the grammar sampler."""
        if self._grammar is not None:
            self._grammar.close()


def first_refused(vocab: Any, grammar: str, tokens: list[int]) -> int | None:
    """Index of the first of ``tokens`` the grammar refuses, fed in order; ``None`` if none."""
    checker = _Grammar(vocab, grammar)
    try:
        for at, token in enumerate(tokens):
            ids = np.array([token], dtype=np.int32)
            if not np.isfinite(checker.mask(ids, np.zeros(1, dtype=np.float32))).all():
                return at
            checker.accept(token)
        return None
    finally:
        checker.close()
