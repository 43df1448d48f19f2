"""The part of the embedded backend that touches llama-cpp-python; imported only when it is used.

One :class:`Engine` holds one loaded model and its context. It renders chat messages with the
template from the GGUF metadata, keeps the evaluated prefix in the KV cache between calls (the
engine reuses the longest common token prefix), counts the tokens it really evaluates, switches
LoRA adapters on the loaded model, and stops generation at a hard token cap.

Importing it routes llama.cpp's log (process-wide) to the ``patchloop.models.llamacpp`` logger at
debug level, keeping recent warnings and errors for error messages.
"""

from __future__ import annotations

import ctypes
import logging
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from patchloop.models._batch import Sample, decode_samples
from patchloop.models._lookup import decode_with_drafts
from patchloop.models._prefix_store import MIN_TOKENS, PrefixStore
from patchloop.models._sampler import Choice, SamplerSettings, TokenPicker, first_refused

__all__ = ["Engine", "EngineError", "Generation", "PrefillTimeout", "captured_log"]

log = logging.getLogger("patchloop.models.llamacpp")

#: Used when a GGUF file carries no chat template: plain role-prefixed turns.
PLAIN_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)

_LOG_LINES = 40
_ERROR_LEVELS = (3, 4)  # GGML_LOG_LEVEL_WARN, GGML_LOG_LEVEL_ERROR


class EngineError(RuntimeError):
    """llama.cpp refused something; the message carries what it logged."""


class _LogTap:
    """Keeps llama.cpp's recent warnings and errors, so failures can say what went wrong.

    With ``verbose=False`` llama-cpp-python discards the log, and a failed load surfaces only as
    "Failed to load model from file"; the real cause is in the log.
    """

    def __init__(self) -> None:
        self._lines: deque[tuple[int, str]] = deque(maxlen=_LOG_LINES)
        self._seen = 0
        self._lock = threading.Lock()

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator,unused-ignore]
        def callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
            line = text.decode("utf-8", errors="replace").rstrip()
            if line:
                log.debug("llama.cpp: %s", line)
                if level in _ERROR_LEVELS:
                    with self._lock:
                        self._lines.append((self._seen, line))
                        self._seen += 1

        self._callback = callback  # keep a reference: the C side holds only a pointer
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))

    def mark(self) -> int:
        """A position in the log, to read only later lines with :meth:`since`."""
        with self._lock:
            return self._seen

    def since(self, mark: int) -> list[str]:
        """Warning and error lines logged after ``mark`` (the most recent ones)."""
        with self._lock:
            return [line for n, line in self._lines if n >= mark]


_TAP = _LogTap()
_PARAMS_LOCK = threading.Lock()


@contextmanager
def _model_params(*, extra_buffers: bool, sequences: int) -> Iterator[None]:
    """Make the parameters ``Llama`` asks for carry ``use_extra_bufts`` (model) and room for
    ``sequences`` sequences sharing one KV cache (context).

    ``Llama`` takes neither argument; it builds its parameters from
    ``llama_model_default_params`` and ``llama_context_default_params``, so those functions
    are wrapped while the model loads.
    """
    module = llama_cpp.llama_cpp
    model_defaults = module.llama_model_default_params
    context_defaults = module.llama_context_default_params

    def model_params() -> Any:
        value = model_defaults()
        value.use_extra_bufts = extra_buffers
        return value

    def context_params() -> Any:
        value = context_defaults()
        value.n_seq_max = sequences
        # One cache for all sequences: a shared prompt's cells belong to every sample.
        value.kv_unified = True
        return value

    with _PARAMS_LOCK:
        module.llama_model_default_params = model_params
        module.llama_context_default_params = context_params
        try:
            yield
        finally:
            module.llama_model_default_params = model_defaults
            module.llama_context_default_params = context_defaults


@contextmanager
def captured_log() -> Iterator[list[str]]:
    """Collect what llama.cpp logs (and prints to stderr) inside the block into the list."""
    found: list[str] = []
    mark = _TAP.mark()
    with tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            yield found
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            err.seek(0)
            printed = err.read().decode("utf-8", errors="replace")
            found.extend(line.strip() for line in printed.splitlines() if line.strip())
            found.extend(_TAP.since(mark))


class _CountingLlama(Llama):  # type: ignore[misc,unused-ignore]  # Any without the extra
    """``Llama`` that counts every token it evaluates: reuse is measured, never guessed."""

    evaluated = 0

    def eval(self, tokens: Sequence[int]) -> None:
        self.evaluated += len(tokens)
        super().eval(tokens)

    def forget(self) -> None:
        """Drop the cached prefix: the next prompt is evaluated from its first token."""
        self.reset()  # type: ignore[no-untyped-call,unused-ignore]


def _stop_check(stops: Sequence[bytes], watch: _UnitWatch) -> Callable[[bytes], bool]:
    """A sample's stop rule: a stop string in its recent bytes, or an edit it repeats."""
    window = max((len(s) for s in stops), default=0)
    tail = bytearray()

    def check(piece: bytes) -> bool:
        tail.extend(piece)
        if any(s in tail for s in stops):
            return True
        del tail[: max(0, len(tail) - window)]
        return watch.feed(piece)

    return check


def _either(
    check: Callable[[bytes], bool], until: Callable[[bytes], bool]
) -> Callable[[bytes], bool]:
    """A stop rule that also ends the sample where ``until`` says."""
    return lambda piece: check(piece) or until(piece)


class PrefillTimeout(Exception):
    """The deadline passed while the prompt was being evaluated."""


class _UnitWatch:
    """Finds a reply's edits (text closed by ``unit_end``) that repeat an earlier one."""

    def __init__(self, unit_end: str | None) -> None:
        self._end = unit_end.encode("utf-8") if unit_end else b""
        self._text = bytearray()
        self._units: set[bytes] = set()
        self._start = 0

    def feed(self, piece: bytes) -> bool:
        """Add generated bytes; ``True`` once the newest closed unit repeats an earlier one."""
        if not self._end:
            return False
        self._text += piece
        while (end := self._text.find(self._end, self._start)) >= 0:
            unit = bytes(self._text[self._start : end]).strip()
            if unit in self._units:
                return True
            self._units.add(unit)
            self._start = end + len(self._end)
        return False

    def repeat_at(self, text: str) -> int | None:
        """Where the first repeated unit starts in ``text`` (the decoded reply), if any."""
        if not self._end:
            return None
        end = self._end.decode("utf-8")
        seen: set[str] = set()
        start = 0
        while (found := text.find(end, start)) >= 0:
            unit = text[start:found].strip()
            if unit in seen:
                return start
            seen.add(unit)
            start = found + len(end)
        return None


@dataclass(frozen=True)
class Generation:
    """One generation: its text and exact token counts."""

    text: str
    finish_reason: str
    prompt_tokens: int
    evaluated_prompt_tokens: int
    completion_tokens: int
    tokens: tuple[int, ...] = ()
    """The generated token ids, when they spell exactly ``text``."""
    full_scans: int = 0
    """Steps on which the grammar admitted none of the likely tokens (see ``_sampler``)."""
    prefill_s: float = 0.0
    """Seconds evaluating the prompt's new tail."""
    decode_s: float = 0.0
    """Seconds sampling the reply."""
    choices: tuple[Choice, ...] = ()
    """With tracking, each sampled token and the best other one (see ``_sampler.Choice``),
    from the first token after the forced head."""
    head: int = 0
    """Leading tokens of ``tokens`` that were forced, not sampled."""
    retries: int = 0
    """Forks decoded for this reply: retries of a refused reply, or branches of it (see
    :mod:`patchloop.models._forks`)."""


class Engine:
    """One loaded GGUF model with its context, chat template and LoRA adapters."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int,
        n_threads: int | None,
        seed: int,
        chat_template: str | None,
        extra_buffers: bool = True,
        max_samples: int = 1,
        draft_tokens: int = 0,
    ) -> None:
        """Load ``path``. ``extra_buffers`` lets llama.cpp repack weights into its extra
        buffer types (faster kernels); off avoids them, e.g. the AMX buffer that crashes on
        some CPUs (see :func:`patchloop.models._cpu.has_amx`). ``draft_tokens`` bounds the
        tokens a single sample drafts per step from its context (0: one token per step)."""
        with (
            captured_log() as said,
            _model_params(extra_buffers=extra_buffers, sequences=max_samples),
        ):
            try:
                self.llm = _CountingLlama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    seed=seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise EngineError(f"{exc}: {'; '.join(said)}" if said else str(exc)) from exc
        self.extra_buffers = extra_buffers
        self.max_samples = max_samples
        """Samples one request may decode together (sequences of the context)."""
        self.draft_tokens = draft_tokens
        self.batches = 0
        """Decode batches run after prefills (a drafted step is one batch)."""
        self.prefix_store: PrefixStore | None = None
        """Where stable prompt prefixes are saved and loaded (see ``_prefix_store``)."""
        self._vocab = self.llm._model.vocab
        model = self.llm._model
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        template = chat_template or self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            log.warning("%s has no chat template; using a plain role: text layout", path.name)
        self._formatter = Jinja2ChatFormatter(
            template=template or PLAIN_TEMPLATE,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
        )
        self._eos_text = model.token_get_text(eos) if eos != -1 else ""
        self._bos = bos
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self._adapters: dict[Path, Any] = {}
        self._active: Path | None = None
        self._checked_grammars: set[str] = set()
        self._continuation: tuple[str, list[int]] = ("", [])

    # ------------------------------------------------------------------ text and tokens

    @property
    def n_ctx(self) -> int:
        """Context size in tokens."""
        return int(self.llm.n_ctx())

    @property
    def parameters(self) -> int:
        """The model's parameter count, as llama.cpp counts it."""
        return int(llama_cpp.llama_model_n_params(self.llm._model.model))

    @property
    def n_threads(self) -> int:
        """Threads used for generation."""
        return int(llama_cpp.llama_n_threads(self.llm._ctx.ctx))

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The prompt text for chat ``messages`` under the model's chat template."""
        prompt = self._formatter(messages=list(messages)).prompt  # type: ignore[arg-type,unused-ignore]
        return str(prompt)

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Token ids of ``text``; ``special`` parses control tokens such as ``<|im_end|>``."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special))

    def continuing_tokens(self, prompt: str) -> list[int]:
        """Tokens of ``prompt``, re-using the exact ids of the last prompt and its reply when
        ``prompt`` extends them.

        Re-tokenizing a reply can split it differently from how it was generated, and then its
        cached activations would be thrown away although the text is the same.
        """
        text, tokens = self._continuation
        if text and prompt.startswith(text):
            return [*tokens, *self.tokenize(prompt[len(text) :], special=True)]
        return self.prompt_tokens(prompt)

    def remember(self, prompt: str, tokens: Sequence[int], reply: Generation) -> None:
        """Keep the last prompt and reply for :meth:`continuing_tokens`."""
        if reply.tokens or not reply.text:
            self._continuation = (prompt + reply.text, [*tokens, *reply.tokens])
        else:
            self._continuation = ("", [])

    def prompt_tokens(self, prompt: str) -> list[int]:
        """Tokens of a rendered prompt, with BOS in front when the model wants one."""
        tokens = self.tokenize(prompt, special=True)
        if self._add_bos and self._bos >= 0 and (not tokens or tokens[0] != self._bos):
            tokens.insert(0, self._bos)
        return tokens

    @property
    def stop_text(self) -> str:
        """The end-of-turn text (the EOS token's text), which ends a reply."""
        return self._eos_text

    # ------------------------------------------------------------------ grammars

    def check_grammar(self, gbnf: str) -> None:
        """Raise :class:`EngineError` with llama.cpp's parse error when ``gbnf`` is invalid."""
        if gbnf in self._checked_grammars:
            return
        with captured_log() as said:
            sampler = llama_cpp.llama_sampler_init_grammar(
                self._vocab, gbnf.encode("utf-8"), b"root"
            )
        if not sampler:
            raise EngineError("; ".join(said) or "llama.cpp could not parse the grammar")
        llama_cpp.llama_sampler_free(sampler)
        self._checked_grammars.add(gbnf)

    def refused_at(self, gbnf: str, text: str) -> int | None:
        """Where, in characters, the grammar's sampler refuses ``text`` as tokenized by this
        model (the start of the first refused token); ``None`` when it admits all of it."""
        tokens = self.tokenize(text, special=False)
        at = first_refused(self._vocab, gbnf, tokens)
        if at is None:
            return None
        return len(self.llm.detokenize(tokens[:at]).decode("utf-8", errors="ignore"))

    # ------------------------------------------------------------------ adapters

    def use_adapter(self, path: Path | None) -> None:
        """Make ``path`` (a GGUF LoRA file) the active adapter, ``None`` the base model.

        The KV cache holds activations of the adapter that computed them, so a switch empties
        it: cached prefixes are valid per (adapter, tokens) only.
        """
        if path == self._active:
            return
        ctx = self.llm._ctx.ctx
        if path is None:
            rc = llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
        else:
            adapter = self._adapters.get(path)
            if adapter is None:
                with captured_log() as said:
                    adapter = llama_cpp.llama_adapter_lora_init(
                        self.llm._model.model, str(path).encode("utf-8")
                    )
                if not adapter:
                    raise EngineError("; ".join(said) or "llama.cpp could not load the adapter")
                # Freed with the model; llama.cpp tracks the adapters it loaded.
                self._adapters[path] = adapter
            array = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
            scales = (ctypes.c_float * 1)(1.0)
            rc = llama_cpp.llama_set_adapters_lora(ctx, array, 1, scales)
        self.llm.forget()
        self._active = None
        if rc != 0:
            llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
            raise EngineError(f"llama.cpp refused to apply the adapter (code {rc})")
        self._active = path

    # ------------------------------------------------------------------ evaluation

    def next_logits(self, tokens: Sequence[int]) -> list[float]:
        """Logits of the token after ``tokens``, reusing the cached prefix."""
        self._prefill(tokens, None)
        return [float(x) for x in self._last_logits()]

    def generate(
        self,
        prompt: Sequence[int],
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
        stop: Sequence[str],
        grammar: str | None,
        deadline: float | None = None,
        unit_end: str | None = None,
        checkpoints: Sequence[int] = (),
    ) -> Generation:
        """Sample up to ``max_tokens`` tokens after ``prompt``; never more, and none after
        ``deadline`` (``time.monotonic()``; the finish reason is then ``timeout``).

        The cached prefix of the last prompt is reused: only the new tail is evaluated (in
        batches, checking the deadline between them). With ``unit_end`` (the text that closes
        one edit), a reply that closes an edit identical to an earlier one stops there and the
        repeat is cut off: a small model that loops would otherwise run to the token cap.
        """
        return self.generate_many(
            prompt,
            [(temperature, seed)],
            max_tokens=max_tokens,
            stop=stop,
            grammar=grammar,
            deadline=deadline,
            unit_end=unit_end,
            checkpoints=checkpoints,
        )[0]

    def generate_many(
        self,
        prompt: Sequence[int],
        samples: Sequence[tuple[float, int]],
        *,
        max_tokens: int,
        stop: Sequence[str],
        grammar: str | None,
        deadline: float | None = None,
        unit_end: str | None = None,
        checkpoints: Sequence[int] = (),
        head: Sequence[int] = (),
        track: bool = False,
        until: Callable[[bytes], bool] | None = None,
    ) -> list[Generation]:
        """One generation per ``(temperature, seed)`` in ``samples``, decoded together after
        one evaluation of ``prompt`` (see :mod:`patchloop.models._batch`); each as
        :meth:`generate` describes. The prompt's tokens are counted once, in the first.

        ``head`` is the start of every reply, already chosen: it is evaluated as part of the
        prompt (its cached tokens are reused) and the grammar and stop rules start after it.
        ``track`` keeps each sampled token's runner-up (:attr:`Generation.choices`).
        ``until``, called with each sampled token's bytes (not the head's), ends a sample
        when it says so (as a stop string would, the token kept).
        """
        if not 1 <= len(samples) <= self.max_samples:
            raise EngineError(
                f"{len(samples)} samples asked; this context decodes 1 to {self.max_samples}"
            )
        llm = self.llm
        before = llm.evaluated
        started = time.perf_counter()
        full = [*prompt, *head]
        self._prefill(full, deadline, checkpoints)
        prefilled = time.perf_counter()
        evaluated = llm.evaluated - before
        stops = [s.encode("utf-8") for s in stop if s]
        watches = [_UnitWatch(unit_end) for _ in samples]
        decoding = [
            Sample(
                picker=TokenPicker(
                    self._vocab,
                    SamplerSettings(temperature=temperature, seed=seed),
                    grammar,
                    track=track,
                ),
                stop_check=_stop_check(stops, watch),
            )
            for (temperature, seed), watch in zip(samples, watches, strict=True)
        ]
        if head:
            said = llm.detokenize(list(head), prev_tokens=list(prompt))
            for sample in decoding:
                sample.picker.prime(list(head))
                sample.stop_check(said)
        if until is not None:  # sampled tokens only, not the head
            for sample in decoding:
                sample.stop_check = _either(sample.stop_check, until)
        try:
            if len(decoding) == 1 and self.draft_tokens > 0:
                self.batches += decode_with_drafts(
                    llm,
                    self._vocab,
                    full,
                    self._last_logits().copy(),
                    decoding[0],
                    max_tokens=max(1, max_tokens - len(head)),
                    deadline=deadline,
                    most=self.draft_tokens,
                )
            else:
                self.batches += decode_samples(
                    llm,
                    self._vocab,
                    len(full),
                    self._last_logits().copy(),
                    decoding,
                    max_tokens=max(1, max_tokens - len(head)),
                    deadline=deadline,
                )
        finally:
            for sample in decoding:
                sample.picker.close()
        decoded = time.perf_counter()
        out = []
        for k, (sample, watch) in enumerate(zip(decoding, watches, strict=True)):
            sampled = len(sample.tokens)
            sample.tokens = [*head, *sample.tokens]
            text, finish, kept = self._finish_text(prompt, sample, watch, stop)
            out.append(
                Generation(
                    text=text,
                    finish_reason=finish,
                    prompt_tokens=len(prompt),
                    evaluated_prompt_tokens=evaluated if k == 0 else 0,
                    # The last token of a head is a choice made here (a fork's runner-up).
                    completion_tokens=sampled + (1 if head else 0),
                    tokens=tuple(kept or ()),
                    full_scans=sample.picker.full_scans,
                    prefill_s=prefilled - started if k == 0 else 0.0,
                    decode_s=decoded - prefilled,
                    choices=tuple(sample.picker.choices),
                    head=len(head),
                )
            )
        return out

    def _finish_text(
        self, prompt: Sequence[int], sample: Sample, watch: _UnitWatch, stop: Sequence[str]
    ) -> tuple[str, str, list[int] | None]:
        """A sample's text, finish reason and the tokens that spell the text exactly."""
        out = sample.tokens
        text = self.llm.detokenize(out, prev_tokens=list(prompt)).decode("utf-8", errors="ignore")
        finish = sample.finish
        kept: list[int] | None = out
        cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
        if cut >= 0:
            text, finish, kept = text[:cut], "stop", None
        repeat = watch.repeat_at(text)
        if repeat is not None:
            text, finish = text[:repeat], "stop"
            if kept is not None:
                text, kept = self._spelling(out, prompt, text)
        return text, finish, kept

    def _spelling(
        self, out: list[int], prompt: Sequence[int], text: str
    ) -> tuple[str, list[int] | None]:
        """``text`` (a head of the reply) and the head of ``out`` that spells it, so the next
        prompt re-uses the cached reply. Where ``text`` ends inside a token that adds only
        white space (``"\n\n"`` after an edit's last line), the text takes that token whole."""
        want = text.encode("utf-8")
        for k in range(len(out) + 1):
            head = self.llm.detokenize(out[:k], prev_tokens=list(prompt))
            if len(head) >= len(want):
                if head.startswith(want) and not head[len(want) :].strip():
                    return head.decode("utf-8", errors="ignore"), out[:k]
                return text, None
        return text, None

    def _prefill(
        self, prompt: Sequence[int], deadline: float | None, checkpoints: Sequence[int] = ()
    ) -> None:
        """Evaluate ``prompt`` after the longest cached prefix (at least its last token).

        ``checkpoints`` are token counts up to which the prompt is stable across runs: with a
        prefix store, the longest one saved earlier is loaded instead of evaluated, and each
        one evaluated now is saved.
        """
        llm = self.llm
        cached = _common_prefix(llm._input_ids[: llm.n_tokens].tolist(), prompt)
        llm.n_tokens = min(cached, len(prompt) - 1)
        points = sorted({k for k in checkpoints if MIN_TOKENS <= k < len(prompt)})
        store = self.prefix_store
        if store is not None:
            for k in reversed(points):
                if k <= llm.n_tokens:
                    break
                if self._load_prefix(store, prompt[:k]):
                    break
        step = max(1, int(llm.n_batch))
        start = llm.n_tokens
        while start < len(prompt):
            if deadline is not None and time.monotonic() >= deadline:
                raise PrefillTimeout
            end = min(len(prompt), start + step)
            save = next((k for k in points if start < k <= end), None)
            if save is not None and store is not None:
                end = save
            llm.eval(list(prompt[start:end]))
            if save is not None and store is not None and end == save:
                self._save_prefix(store, prompt[:save])
            start = end

    def _prefix_key(self, store: PrefixStore, tokens: Sequence[int]) -> str:
        return store.key(tokens, str(self._active) if self._active else None)

    def _save_prefix(self, store: PrefixStore, tokens: Sequence[int]) -> None:
        key = self._prefix_key(store, tokens)
        if store.has(key):
            return
        ctx = self.llm._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if written:
            store.save(key, bytes(buffer)[:written])

    def _load_prefix(self, store: PrefixStore, tokens: Sequence[int]) -> bool:
        """Load the saved state of ``tokens`` into the context; ``False`` when there is none
        (or llama.cpp refuses it, and the context is then empty)."""
        data = store.load(self._prefix_key(store, tokens))
        if data is None:
            return False
        llm = self.llm
        llm._ctx.kv_cache_seq_rm(0, 0, -1)
        llm.n_tokens = 0
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if not llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, buffer, len(data), 0):
            llm._ctx.kv_cache_seq_rm(0, 0, -1)
            log.warning("llama.cpp refused a saved prefix state; evaluating the prompt instead")
            return False
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        return True

    def checkpoints(self, prompt: str, tokens: Sequence[int], offsets: Sequence[int]) -> list[int]:
        """Token counts of ``tokens`` (the prompt's) that end at or before each character
        offset in ``offsets``, one token short so that a token merging across the offset in
        another prompt does not matter."""
        if not offsets:
            return []
        ends = sorted(len(prompt[:o].encode("utf-8")) for o in offsets)
        found: list[int] = []
        done = 0
        at = 0
        for count, token in enumerate(tokens, start=1):
            done += len(self.llm.detokenize([token], special=True))
            while at < len(ends) and done > ends[at]:
                found.append(count - 2)
                at += 1
            if at == len(ends):
                break
        return [k for k in found if k > 0]

    def _last_logits(self) -> np.ndarray:
        pointer = llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.llm.n_vocab(),))

    def close(self) -> None:
        """Free the context and the model (and with it the adapters)."""
        self._adapters.clear()
        self.llm.close()


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
