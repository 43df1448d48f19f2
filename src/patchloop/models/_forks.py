"""Replies decoded again from the tokens the embedded model hesitated on.

A tracked generation keeps, for each sampled token, the best other token the contract admits
and how far below it that one scored (:class:`patchloop.models._sampler.Choice`). A *fork*
keeps the reply up to one of those tokens, takes the runner-up there and decodes on: the
cached prompt and reply head are reused, so a fork costs the tokens after it.

Two uses. :func:`avoiding` decodes a refused reply again (one that changes nothing, or repeats
a candidate already judged). :func:`branches` turns one reply into several candidates, each
first differing from it at one of its least certain tokens: where a model copies a file and
hesitates over one token, the runner-up there is a one-point change it considered.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from patchloop.models._llamacpp_engine import Engine, Generation

__all__ = ["Decoder", "avoiding", "branches", "fork_points"]


def fork_points(engine: Engine, generation: Generation) -> list[tuple[int, int]]:
    """Where a reply may be forked: ``(token index, runner-up token)``, least certain first;
    only tokens whose runner-up changes more than white space or a fence."""
    llm = engine.llm
    found: list[tuple[float, int, int]] = []
    tokens = generation.tokens
    for at, choice in enumerate(generation.choices):
        if choice.other < 0 or at >= len(tokens) or tokens[at] != choice.token:
            continue
        mine = llm.detokenize([choice.token]).decode("utf-8", errors="ignore")
        other = llm.detokenize([choice.other]).decode("utf-8", errors="ignore")
        if not other.strip() or not mine.strip() or "`" in mine + other:
            continue
        if llm.token_eos() in (choice.token, choice.other):
            continue
        found.append((choice.margin, at, choice.other))
    found.sort()
    return [(at, other) for _, at, other in found]


@dataclass(frozen=True)
class Decoder:
    """What every decode of one request shares: the engine, the prompt's tokens and the
    decoding settings (see ``Engine.generate_many``)."""

    engine: Engine
    prompt: Sequence[int]
    max_tokens: int
    stop: Sequence[str]
    grammar: str | None
    deadline: float | None = None
    unit_end: str | None = None

    def __call__(
        self,
        samples: Sequence[tuple[float, int]],
        *,
        checkpoints: Sequence[int] = (),
        head: Sequence[int] = (),
        track: bool = False,
        until: Callable[[bytes], bool] | None = None,
    ) -> list[Generation]:
        """One generation per ``(temperature, seed)``, decoded together."""
        return self.engine.generate_many(
            self.prompt,
            samples,
            max_tokens=self.max_tokens,
            stop=self.stop,
            grammar=self.grammar,
            deadline=self.deadline,
            unit_end=self.unit_end,
            checkpoints=checkpoints,
            head=head,
            track=track,
            until=until,
        )


def _carrying(kept: Generation, spent: Sequence[Generation], forks: int) -> Generation:
    """``kept`` with the tokens and seconds of every pass in ``spent`` (itself included)."""
    return dataclasses.replace(
        kept,
        evaluated_prompt_tokens=sum(g.evaluated_prompt_tokens for g in spent),
        completion_tokens=sum(g.completion_tokens for g in spent),
        prefill_s=sum(g.prefill_s for g in spent),
        decode_s=sum(g.decode_s for g in spent),
        retries=forks,
    )


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def avoiding(
    decode: Decoder,
    *,
    temperature: float,
    seed: int,
    reject: Callable[[str], bool],
    tries: int,
    checkpoints: Sequence[int] = (),
) -> Generation:
    """One generation, decoded again from where the model hesitated most while ``reject``
    refuses its text (a reply that changes nothing, or repeats a failed one).

    Each retry keeps the reply up to one of its least certain tokens, takes the runner-up
    token there instead and samples on (``tries`` retries at most, hesitations tried from
    the smallest margin up). The generation returned counts every pass's tokens and seconds.
    """
    first = decode([(temperature, seed)], checkpoints=checkpoints, track=True)[0]
    spent = [first]
    if tries <= 0 or not first.tokens or not reject(first.text):
        return first
    # Forks are looked for only once the first reply is refused.
    for at, other in fork_points(decode.engine, first)[:tries]:
        if spent[-1].finish_reason == "timeout" or _past(decode.deadline):
            break
        retry = decode([(temperature, seed + 1 + len(spent))], head=[*first.tokens[:at], other])[0]
        spent.append(retry)
        if len(spent) > tries or not reject(retry.text):
            break
    return _carrying(spent[-1], spent, len(spent) - 1)


#: Lines a branch must copy in a row from the first reply to rejoin it, and how many
#: characters other than white space they hold at least.
REJOIN_LINES = 2
REJOIN_CHARS = 6


class _Rejoin:
    """Watches a branch's text after its fork for where it copies the first reply again:
    :data:`REJOIN_LINES` complete lines in a row, not all blank, that the first reply has
    after the fork. The branch stops there and takes the rest of the first reply as its own.
    A branch is a change at one point; decoding the copy of the rest would cost most of its
    tokens, and a small model rarely changes anything again once it copies."""

    def __init__(self, first: str, fork: int) -> None:
        self._first = first
        self._fork = fork
        self._text = bytearray()
        self._rest = ""
        self._checked = 0
        self.resume: int | None = None
        """Where in the first reply the branch goes on, once it rejoined."""

    def __call__(self, piece: bytes) -> bool:
        self._text += piece
        if b"\n" not in piece:
            return False
        lines = self._text.decode("utf-8", errors="ignore").split("\n")
        done = lines[1:-1]  # whole lines after the line the fork changed
        for end in range(max(self._checked, REJOIN_LINES), len(done) + 1):
            window = "".join(f"{line}\n" for line in done[end - REJOIN_LINES : end])
            if len("".join(window.split())) < REJOIN_CHARS:
                continue
            at = self._first.find("\n" + window, self._fork)
            if at >= 0:
                self.resume = at + 1 + len(window)
                self._rest = "\n".join(lines[1 + end :])
                return True
        self._checked = len(done) + 1
        return False

    def splice(self, text: str) -> str:
        """``text`` (the branch's reply, stopped where it rejoined) with the first reply's
        rest in place of what was decoded past the rejoining lines."""
        assert self.resume is not None
        cut = len(text) - len(self._rest) if self._rest and text.endswith(self._rest) else None
        return text[:cut] + self._first[self.resume :]


def branches(
    decode: Decoder,
    *,
    count: int,
    temperature: float,
    seed: int,
    reject: Callable[[str], bool],
    misses: int,
    checkpoints: Sequence[int] = (),
) -> list[Generation]:
    """Up to ``count`` candidates: a reply at ``temperature``, then branches of it. A branch
    keeps the reply up to one of its least certain tokens (smallest margin first), takes the
    runner-up there and decodes on at the same temperature with a seed of its own, until it
    copies the reply again (see :class:`_Rejoin`): the reply's rest completes it.

    Branches are decoded from the latest fork point to the earliest, so that each one's
    head is still in the KV cache. A branch that ``reject`` refuses, that has the text of an
    earlier candidate, or that ran out of time is dropped and the next fork point tried,
    ``misses`` times at most. A refused first reply is dropped too once a branch is kept
    (else it comes back alone). What dropped passes cost is counted in the first candidate
    returned, whose ``retries`` is the number of branches decoded; every branch has
    ``retries`` 1.
    """
    first = decode([(temperature, seed)], checkpoints=checkpoints, track=True)[0]
    first_refused = reject(first.text)
    wanted = count if first_refused else count - 1
    kept: list[Generation] = []
    dropped: list[Generation] = []
    seen = {first.text}
    points = fork_points(decode.engine, first) if first.finish_reason != "timeout" else []
    taken = 0
    while points[taken:] and len(kept) < wanted and len(dropped) < misses:
        group = points[taken : taken + wanted - len(kept)]
        taken += len(group)
        for at, other in sorted(group, reverse=True):
            if _past(decode.deadline) or len(dropped) >= misses:
                break
            fork = decode.engine.llm.detokenize(
                list(first.tokens[:at]), prev_tokens=list(decode.prompt)
            )
            rejoin = _Rejoin(first.text, len(fork.decode("utf-8", errors="ignore")))
            head = [*first.tokens[:at], other]
            sampling = (temperature, seed + 1 + len(kept) + len(dropped))
            branch = decode([sampling], head=head, until=rejoin)[0]
            if rejoin.resume is not None:
                text = rejoin.splice(branch.text)
                branch = dataclasses.replace(
                    branch, text=text, tokens=(), finish_reason=first.finish_reason
                )
            if branch.finish_reason == "timeout" or branch.text in seen or reject(branch.text):
                dropped.append(branch)
                continue
            seen.add(branch.text)
            kept.append(dataclasses.replace(branch, retries=1))
        if _past(decode.deadline):
            break
    decoded = len(kept) + len(dropped)
    if first_refused and kept:
        out = kept
        spent = [first, *dropped, kept[0]]
    else:
        out = [first, *kept]
        spent = [first, *dropped]
    out[0] = _carrying(out[0], spent, decoded)
    return out
