"""The two kinds of tier the loop drives: model-free fixers and a model with an edit format.

A tier turns the run's state into a :class:`Proposal` (a candidate patch, or the raw edits a
model produced) and learns from the feedback of the attempt that verified it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.config import Config
from patchloop.context.layout import PromptLayout, Turn, render_for_prefix, shared_prefix
from patchloop.context.relocalize import failure_files
from patchloop.domain import (
    Completion,
    CompletionRequest,
    Edit,
    EditScope,
    Feedback,
    Location,
    Message,
    Patch,
    Sampling,
    ScopeFile,
    Task,
    TierPlan,
)
from patchloop.edits.describe import describe_diff
from patchloop.edits.scope import (
    breaks_python,
    changes_nothing,
    check_scope,
    dedupe,
    edits_key,
    without_test_edits,
)
from patchloop.errors import (
    BadRequest,
    EditError,
    ModelTimeout,
    NotAFile,
    OutOfScope,
    ParseError,
    RepeatedEdit,
)
from patchloop.protocols import (
    AvoidingSampler,
    BatchSampler,
    BranchSampler,
    EditFormat,
    Fixer,
    Model,
)
from patchloop.verify.guard import is_protected_path

__all__ = [
    "FixerTier",
    "ModelTier",
    "Proposal",
    "Tier",
    "TierExhausted",
    "batch",
    "history_reply",
    "render_turn",
]

log = logging.getLogger("patchloop.tiers")


#: Smallest reply budget, in tokens, whatever the size of the editable files.
REPLY_FLOOR_TOKENS = 256
#: How much each repeated reply raises the sampling temperature, and its ceiling.
REPEAT_TEMPERATURE_STEP = 0.4
MAX_TEMPERATURE = 1.0
#: Characters of an attempt's feedback quoted when a later reply repeats it.
REPEAT_QUOTE_CHARS = 1200
#: Feedback kinds of replies that brought nothing new (they raise the temperature).
STUCK = frozenset({"empty", "repeat"})


class TierExhausted(Exception):
    """The tier has nothing more to propose."""


@dataclass
class Proposal:
    """A candidate from a tier, before it is applied and verified."""

    tier: str
    patch: Patch | None = None
    edits: list[Edit] = field(default_factory=list)
    completion: Completion | None = None
    messages: tuple[Message, ...] = ()
    label: str = ""
    well_formed: bool | None = None
    prefix_shared_chars: int = 0
    prefix_shared_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    edits_key: frozenset[object] | None = None
    """What the edits change (see :func:`patchloop.edits.scope.edits_key`), once parsed."""
    sample: int = 0
    """0-based position among the iteration's candidates."""
    edit_format: str = ""
    error: EditError | None = None
    """What the candidate's reply got wrong before any test ran (parse, scope, repeat)."""
    feedback: Feedback | None = None
    """What the candidate was told became of it, once judged."""
    siblings: list[Proposal] = field(default_factory=list)
    """The iteration's other candidates (samples of the same request)."""
    ignored: tuple[str, ...] = ()
    """Test files the reply also edited; those edits were left out (see
    :func:`patchloop.edits.scope.without_test_edits`)."""
    deadline: float | None = None
    """``time.monotonic()`` by which the tier must have its candidate (the earlier of the
    run's and the tier's deadline); model calls are cut off there."""


def batch(draft: Proposal) -> list[Proposal]:
    """The iteration's candidates: ``draft`` and its siblings."""
    return [draft, *draft.siblings]


class Tier:
    """Common shape of tiers."""

    plan: TierPlan
    fail_fast: bool = False
    """Verify candidates with early exit: cheap rejection matters more than full feedback."""
    added_files: Sequence[str] = ()
    """Files added to the prompt after failures pointed at them, in order (model tiers)."""

    @property
    def name(self) -> str:
        """Name used in records: ``fixers`` or the model spec."""
        return self.plan.name

    def propose(self, draft: Proposal) -> None:
        """Fill ``draft`` with the next candidate; raise ``TierExhausted`` when there is none.

        The draft is filled as work proceeds, so a failure half-way still leaves the prompt
        and completion for the record.
        """
        raise NotImplementedError

    def observe(self, proposals: Sequence[Proposal], shown: Proposal | None) -> None:
        """Learn what became of the iteration's ``proposals`` (each with its ``feedback``);
        ``shown`` is the one to show the model next, with the iteration's feedback."""


class FixerTier(Tier):
    """Tier 0: candidates from model-free fixers, verified one by one."""

    fail_fast = True

    def __init__(
        self, plan: TierPlan, fixer: Fixer, task: Task, locations: Sequence[Location], root: Path
    ) -> None:
        self.plan = plan
        self._candidates: Iterator[Patch] = fixer.candidates(task, locations, root)

    def propose(self, draft: Proposal) -> None:
        """Next fixer candidate."""
        started = time.perf_counter()
        try:
            patch = next(self._candidates)
        except StopIteration:
            raise TierExhausted from None
        draft.patch = patch
        draft.label = patch.label
        draft.timings["generate"] = time.perf_counter() - started


class ModelTier(Tier):
    """A model asked for edits in one format, with the attempt history appended each time."""

    def __init__(
        self,
        plan: TierPlan,
        model: Model,
        edit_format: EditFormat,
        layout: PromptLayout,
        config: Config,
        *,
        history: list[Turn],
        cache_key: str,
        allow_test_edits: bool = False,
        docstrings: bool = True,
    ) -> None:
        self.plan = plan
        self.model = model
        self.format = edit_format
        self.layout = layout
        self.config = config
        # Shared with other model tiers: a larger model sees what a smaller one tried.
        self.history = history
        self.cache_key = cache_key
        self._last_prompt = ""
        #: Files added to the prompt after failures pointed at them, in order.
        self.added_files: list[str] = []
        #: Set once the server rejected the output contract: later requests go without it.
        self.contract_rejected = False
        self.allow_test_edits = allow_test_edits
        #: Whether a docstring can decide a failing test (see :class:`EditScope`).
        self.docstrings = docstrings
        #: What each earlier reply of this tier changed, and the feedback it got.
        self._tried: dict[frozenset[object], tuple[int, str]] = {}
        self._asked = 0
        #: Replies that repeated an earlier attempt or changed nothing; each raises the
        #: sampling temperature.
        self.repeats = 0

    def _messages(self) -> tuple[Message, ...]:
        """The layout's messages, with the newest reply cut short when that turn alone
        overflows the prompt budget (the layout keeps the newest turn whole)."""
        messages = self.layout.messages(self.history)
        count = self.model.count_tokens
        budget = self.layout.max_tokens
        if not self.history or sum(count(m.content) for m in messages) <= budget:
            return messages
        last = self.history[-1]
        head = messages[:2]
        room = budget - sum(count(m.content) for m in head) - count(last.feedback)
        turn = Turn(reply=_head(last.reply, room - _OMITTED_TOKENS, count), feedback=last.feedback)
        return self.layout.messages([turn])

    def scope(self) -> EditScope | None:
        """What a reply may edit: the files shown in the prompt (test files only when the task
        allows test edits), with the lines shown of each, and the configured edit count."""
        files = tuple(
            ScopeFile(path=f.path, text=f.text, spans=f.spans)
            for f in self.layout.files
            if self.allow_test_edits or not is_protected_path(f.path)
        )
        if not files:
            return None
        return EditScope(
            files=files, max_edits=self.config.model.max_edits, docstrings=self.docstrings
        )

    def _reply_tokens(self, scope: EditScope | None) -> int:
        """Tokens a reply may take: the configured cap, and within twice the editable text
        (a reply that rewrote every editable file whole would fit)."""
        cap = self.config.model.max_output_tokens
        if scope is None:
            return cap
        shown = sum(
            self.model.count_tokens("\n".join("\n".join(run) for run in f.runs()))
            for f in scope.files
        )
        return max(1, min(cap, max(REPLY_FLOOR_TOKENS, 2 * shown + REPLY_FLOOR_TOKENS)))

    def temperature(self) -> float:
        """The configured temperature for the first request; at least the search's retry
        temperature for later ones (a greedy small model given feedback mostly says the same
        again); raised after each reply that repeated an earlier one or changed nothing."""
        base = self.config.model.temperature
        if self._asked > 1:
            base = max(base, self.config.search.retry_temperature)
        return min(MAX_TEMPERATURE, base + REPEAT_TEMPERATURE_STEP * self.repeats)

    def _request(self, timeout_s: float | None = None) -> CompletionRequest:
        messages = self._messages()
        caps = self.model.capabilities
        scope = self.scope()
        constrain = self.config.model.constrain and not self.contract_rejected
        contract = self.format.contract(scope) if constrain else None
        if contract is not None:
            wants_grammar = contract.json_schema is None
            usable = caps.grammar if wants_grammar else caps.constrained_output
            contract = contract if usable else None
        settings = self.config.model
        self._asked += 1
        return CompletionRequest(
            messages=messages,
            contract=contract,
            sampling=Sampling(
                temperature=self.temperature(),
                max_tokens=self._reply_tokens(scope),
                seed=None if not self.repeats else self._asked,
            ),
            adapter=self.plan.adapter or settings.adapter,
            cache_key=self.cache_key,
            cache_points=self.layout.cache_points(),
            timeout_s=timeout_s,
        )

    def _complete(self, request: CompletionRequest, deadline: float | None) -> Completion:
        """One completion; a server that rejects the output contract is asked again without
        it (its replies are still parsed and validated), and not sent it again."""
        try:
            return self.model.complete(request)
        except BadRequest:
            if request.contract is None:
                raise
            self._reject_contract(request)
        retry = request.model_copy(update={"contract": None, "timeout_s": _left(deadline)})
        return self.model.complete(retry)

    def _reject_contract(self, request: CompletionRequest) -> None:
        assert request.contract is not None
        self.contract_rejected = True
        log.warning(
            "%s rejected the %r output contract; asking without it from now on",
            self.model.name,
            request.contract.name,
        )

    def propose(self, draft: Proposal) -> None:
        """Ask the model for the iteration's candidates and parse each: ``draft`` is the first
        (and the only one with one sample), the others become its ``siblings``. A candidate's
        parse, scope or repeat failure is kept on it, for the loop to record."""
        t0 = time.perf_counter()
        request = self._request(_left(draft.deadline))
        rendered = render_for_prefix(request.messages)
        shared = shared_prefix(self._last_prompt, rendered) if self._last_prompt else 0
        self._last_prompt = rendered
        draft.messages = request.messages
        draft.prefix_shared_chars = shared
        draft.prefix_shared_tokens = self.model.count_tokens(rendered[:shared]) if shared else 0
        t1 = time.perf_counter()
        draft.timings["context"] = t1 - t0
        samplings = self._samplings(request.sampling)
        try:
            completions = self._complete_all(request, samplings, draft.deadline)
        finally:
            draft.timings["model"] = time.perf_counter() - t1
        draft.siblings = [
            Proposal(tier=draft.tier, messages=request.messages, deadline=draft.deadline, sample=k)
            for k in range(1, len(completions))
        ]
        for proposal, completion in zip(batch(draft), completions, strict=True):
            proposal.completion = completion
            proposal.edit_format = self.format.name
            for phase in ("prefill_s", "decode_s"):
                seconds = getattr(completion, phase)
                if seconds is not None:
                    proposal.timings[phase.removesuffix("_s")] = seconds
            self._parse(proposal)

    def _samplings(self, first: Sampling) -> list[Sampling]:
        """The iteration's samplings: the request's own, then the configured temperatures
        with a seed each (so that samples of a greedy model differ)."""
        search = self.config.search
        out = [first]
        for k in range(1, search.samples):
            temperature = search.temperatures[(k - 1) % len(search.temperatures)]
            out.append(
                first.model_copy(
                    update={"temperature": temperature, "seed": self._asked * 1000 + k}
                )
            )
        return out

    def _complete_all(
        self, request: CompletionRequest, samplings: Sequence[Sampling], deadline: float | None
    ) -> list[Completion]:
        """A completion per sampling: in one call where the model decodes samples together,
        else one request each."""
        search = self.config.search
        forks = search.forks
        if (
            len(samplings) > 1
            and search.sampling == "branches"
            and isinstance(self.model, BranchSampler)
        ):
            return self._complete_branches(self.model, request, len(samplings), deadline)
        if len(samplings) > 1 and isinstance(self.model, BatchSampler):
            return self._complete_batch(self.model, request, samplings, deadline)
        if len(samplings) == 1 and forks and isinstance(self.model, AvoidingSampler):
            return [self.model.complete_avoiding(request, self._refuses, forks)]
        out: list[Completion] = []
        for sampling in samplings:
            timeout = _left(deadline) if out else request.timeout_s
            one = request.model_copy(update={"sampling": sampling, "timeout_s": timeout})
            if self.contract_rejected:
                one = one.model_copy(update={"contract": None})
            out.append(self._complete(one, deadline))
        return out

    def _complete_batch(
        self,
        many: BatchSampler,
        request: CompletionRequest,
        samplings: Sequence[Sampling],
        deadline: float | None,
    ) -> list[Completion]:
        """The samples decoded together. A refused first sample (the one a single sample
        would be) is decoded again from where the model hesitated, as a single sample is."""
        try:
            out = many.complete_many(request, samplings)
        except BadRequest:
            if request.contract is None:
                raise
            self._reject_contract(request)
            request = request.model_copy(update={"contract": None, "timeout_s": _left(deadline)})
            out = many.complete_many(request, samplings)
        forks = self.config.search.forks
        if forks and isinstance(many, AvoidingSampler) and self._refuses(out[0].text):
            timeout = request.timeout_s if deadline is None else _left(deadline)
            first = request.model_copy(update={"sampling": samplings[0], "timeout_s": timeout})
            out[0] = many.complete_avoiding(first, self._refuses, forks)
        return out

    def _complete_branches(
        self,
        model: BranchSampler,
        request: CompletionRequest,
        count: int,
        deadline: float | None,
    ) -> list[Completion]:
        """The first reply and its branches. Branches that would be wasted (see
        :meth:`_refuses`) are dropped, as many as ``count`` of them; fewer than ``count``
        candidates come back when the reply has no more fork points or time runs out."""
        try:
            return model.complete_branches(request, count, self._refuses, count)
        except BadRequest:
            if request.contract is None:
                raise
            self._reject_contract(request)
            request = request.model_copy(update={"contract": None, "timeout_s": _left(deadline)})
            return model.complete_branches(request, count, self._refuses, count)

    def _refuses(self, text: str) -> bool:
        """Whether a reply is not worth testing: its edits change nothing, are those of a
        candidate already judged, or rewrite a Python file into one that no longer compiles,
        no longer defines one of its top-level functions or classes, or reads a name it no
        longer binds.
        A block that holds a diff where a whole file belongs is refused too; any other reply
        that does not parse is left to the usual checks."""
        try:
            edits = dedupe(self.format.parse(text))
        except NotAFile:
            return True
        except (ParseError, EditError):
            return False
        scope = self.scope()
        if edits_key(edits, scope) in self._tried:
            return True
        return scope is not None and (changes_nothing(edits, scope) or breaks_python(edits, scope))

    def _parse(self, proposal: Proposal) -> None:
        """Edits of the proposal's reply, checked against the scope and earlier attempts; a
        failure is kept as ``proposal.error``."""
        assert proposal.completion is not None
        t0 = time.perf_counter()
        try:
            proposal.edits = dedupe(self.format.parse(proposal.completion.text))
            scope = self.scope()
            if scope is not None:
                is_test = _test_path(self.allow_test_edits)
                proposal.edits, proposal.ignored = without_test_edits(
                    proposal.edits, scope, is_test=is_test
                )
                check_scope(proposal.edits, scope, is_test=is_test)
            proposal.well_formed = True
            self._check_repeat(proposal, scope)
        except (ParseError, OutOfScope) as exc:
            proposal.well_formed = False
            proposal.error = exc
        except RepeatedEdit as exc:
            proposal.error = exc
        finally:
            proposal.timings["parse"] = time.perf_counter() - t0

    def _check_repeat(self, draft: Proposal, scope: EditScope | None) -> None:
        """Refuse a reply whose edits an earlier attempt already made: its outcome is known,
        and the next request is sampled hotter so that it differs."""
        key = edits_key(draft.edits, scope)
        earlier = self._tried.get(key)
        draft.edits_key = key
        if earlier is None:
            return
        self.repeats += 1
        number, outcome = earlier
        raise RepeatedEdit(
            f"the reply repeats the edits of attempt {number}",
            feedback=(
                f"These are the same edits as your attempt {number}, which failed:\n\n"
                f"{outcome.strip()}\n\nDo not send them again: find a different change."
            ),
        )

    def observe(self, proposals: Sequence[Proposal], shown: Proposal | None) -> None:
        """Remember what each candidate changed and how it fared (a later reply that repeats
        it is refused); append the shown candidate and the iteration's feedback to the shared
        history; show the files a test failure points at that the prompt lacks."""
        for proposal in proposals:
            key, told = proposal.edits_key, proposal.feedback
            if key is not None and told is not None and key not in self._tried:
                self._tried[key] = (self._asked, _outcome(told))
        if shown is None or shown.completion is None or shown.feedback is None:
            return
        feedback = shown.feedback
        if all(p.feedback is not None and p.feedback.kind in STUCK for p in proposals):
            self.repeats += 1  # nothing new came back: ask hotter
        if feedback.kind == "tests":
            added = self.layout.add_files(failure_files(self.layout, feedback.text))
            self.added_files += [f.path for f in added]
        self.history.append(Turn(reply=history_reply(shown), feedback=render_turn(feedback)))


def _left(deadline: float | None) -> float | None:
    """Seconds until ``deadline``; ``ModelTimeout`` when it has passed."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise ModelTimeout("the time budget ran out before the model was asked")
    return left


_OMITTED = "\n[... the rest of this reply is omitted: it does not fit the prompt budget ...]"
_OMITTED_TOKENS = 24


def _head(text: str, tokens: int, count: Callable[[str], int]) -> str:
    """The longest head of ``text`` (cut at a line end where possible) within ``tokens``."""
    if tokens <= 0:
        return _OMITTED.lstrip()
    cut = len(text)
    while cut > 0 and count(text[:cut]) > tokens:
        cut = cut * max(1, tokens) // max(count(text[:cut]), tokens + 1)
    line_end = text.rfind("\n", 0, cut)
    if line_end > cut // 2:
        cut = line_end
    return text[:cut] + _OMITTED


def _outcome(feedback: Feedback) -> str:
    """What became of an attempt, short enough to quote when the attempt is repeated."""
    text = feedback.text.strip()
    if len(text) > REPEAT_QUOTE_CHARS:
        text = text[:REPEAT_QUOTE_CHARS].rsplit("\n", 1)[0] + "\n[...]"
    return text


def _test_path(allowed: bool) -> Callable[[str], bool]:
    return (lambda _path: False) if allowed else is_protected_path


def history_reply(proposal: Proposal) -> str:
    """How an earlier reply is shown in the history: as it was, except whole-file rewrites,
    which are told by the lines they changed.

    A small model shown its own complete file again copies it: the next reply repeats the
    failed one, whatever the feedback said. Shown as a diff, it copies the diff into the next
    file. One sentence per changed line says the same and leaves nothing to paste
    (:func:`~patchloop.edits.describe.describe_diff`).
    """
    assert proposal.completion is not None
    edits, patch = proposal.edits, proposal.patch
    if not edits or not all(e.whole for e in edits) or patch is None:
        return proposal.completion.text
    rewritten = list(dict.fromkeys(e.path for e in edits))
    paths = ", ".join(rewritten)
    told = describe_diff(patch.diff, name_files=len(rewritten) > 1) if not patch.empty else []
    if not told:
        return f"(I rewrote {paths} but left the code as it was.)"
    listed = "\n".join(f"- {sentence}" for sentence in told)
    return f"(I rewrote {paths}. Compared with the original, my rewrite changed:)\n{listed}"


def render_turn(feedback: Feedback) -> str:
    """The user message that follows a failed attempt (deterministic, no timings).

    Kept short: it is the part of the next prompt that is not cached. Edit errors describe
    themselves; test failures get a heading. Every message says that the files are back to
    their original state: attempts do not build on each other.
    """
    heading = (
        "Your edits were applied to the original files and the tests ran. They still fail:\n\n"
        if feedback.kind == "tests"
        else ""
    )
    return (
        f"{heading}{feedback.text.strip()}\n\nThe files are back to their original state, as "
        "shown above. Reply with a complete new set of edits to them."
    )
