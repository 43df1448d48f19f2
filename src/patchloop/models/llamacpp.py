"""The embedded backend ``llamacpp``: a GGUF model loaded in-process by llama-cpp-python.

``--model llamacpp:/models/coder.gguf[#name]`` loads the file once and keeps it loaded for the
life of the object. What it adds over a server:

* Output contracts are enforced by a grammar in the sampler. A contract's own GBNF grammar
  (the edit formats carry one) is used as given, once llama.cpp has parsed it; a contract with
  only a JSON schema gets a grammar from it that admits strict JSON alone (see
  :mod:`patchloop.models._gbnf`). A regex-only contract is not enforced here.
* Generation stops at ``max_tokens`` sampled tokens, always, and at the request's
  ``timeout_s`` (checked after each sampled token; ``ModelTimeout`` is raised).
* The evaluated prompt prefix stays in the KV cache; ``Usage.cached_tokens`` is the number of
  prompt tokens that were not evaluated again (counted, not estimated).
* GGUF LoRA adapters are switched on the loaded model per request (``request.adapter``: a name
  from ``adapters``, a path, or a file name next to the model); a switch empties the KV cache.

Needs the ``local`` extra (``pip install 'patchloop[local]'``); llama-cpp-python is imported only
when a model is built.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from patchloop.config import ModelSettings
from patchloop.domain import (
    Capabilities,
    Completion,
    CompletionRequest,
    OutputContract,
    Sampling,
    Usage,
)
from patchloop.errors import BadRequest, ContextTooLong, ModelTimeout, ModelUnavailable, UsageError
from patchloop.models import _forks
from patchloop.models._cpu import has_amx, physical_cores
from patchloop.models._gbnf import strict_json_grammar
from patchloop.models._gguf import GgufError, read_metadata
from patchloop.models._prefix_store import PrefixStore, default_store_dir, model_identity
from patchloop.models.spec import ModelSpec

if TYPE_CHECKING:
    from patchloop.models._llamacpp_engine import Engine, Generation

__all__ = ["DEFAULT_MAX_CONTEXT", "LlamaCppModel", "from_spec"]

#: Context size used when none is given: the model's training context, capped here because
#: the KV cache is allocated up front for the whole context.
DEFAULT_MAX_CONTEXT = 32_768
_FALLBACK_CONTEXT = 4096
#: Samples decoded together in one context (its sequences); more are decoded in rounds.
MAX_SAMPLES = 16
_MIN_CONTEXT = 16
_INSTALL_HINT = (
    "pip install 'patchloop[local]' (llama-cpp-python builds llama.cpp from source, "
    "about 12 minutes on 2 cores, unless pip has a cached wheel)"
)
_EXAMPLE = "llamacpp:/models/qwen2.5-coder-7b-instruct-q4_k_m.gguf"

CAPABILITIES = Capabilities(
    constrained_output=True,
    grammar=True,
    adapters=True,
    reports_cached_tokens=True,
    tokenizer=True,
)


def _engine_module() -> ModuleType:
    try:
        from patchloop.models import _llamacpp_engine
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in ("llama_cpp", "numpy", "jinja2"):
            raise
        raise UsageError(
            f"the llamacpp backend needs {missing}, which is not installed",
            hint=_INSTALL_HINT,
        ) from exc
    return _llamacpp_engine


def _check_model_file(path: Path) -> dict[str, Any]:
    """Header metadata of ``path``; a clear :class:`UsageError` when it is not a GGUF model."""
    if not path.exists():
        raise UsageError(
            f"model file {str(path)!r} does not exist",
            hint=f"give the path of a GGUF model file, e.g. {_EXAMPLE!r}",
        )
    if not path.is_file():
        raise UsageError(f"{str(path)!r} is not a file", hint=f"for example {_EXAMPLE!r}")
    try:
        meta = read_metadata(path)
    except GgufError as exc:
        raise UsageError(
            f"{str(path)!r} is not a GGUF model file: {exc}",
            hint="use a .gguf build of the model, or convert it with llama.cpp's "
            "convert_hf_to_gguf.py",
        ) from exc
    except OSError as exc:
        raise UsageError(f"cannot read model file {str(path)!r}: {exc.strerror}") from exc
    if meta.get("general.type") == "adapter":
        raise UsageError(
            f"{str(path)!r} is a LoRA adapter, not a model",
            hint="give the base model in the spec and the adapter as the request's adapter",
        )
    return meta


class LlamaCppModel:
    """A GGUF model loaded in this process; one instance is one loaded model."""

    def __init__(
        self,
        path: Path | str,
        *,
        settings: ModelSettings | None = None,
        name: str | None = None,
        model_name: str | None = None,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        seed: int = 0,
        adapters: Mapping[str, Path | str] | None = None,
        chat_template: str | None = None,
        capabilities: Capabilities | None = None,
        extra_buffers: Literal["auto", "on", "off"] = "auto",
        draft_tokens: int = 4,
    ) -> None:
        """Load ``path``.

        ``n_ctx`` defaults to the model's training context, at most :data:`DEFAULT_MAX_CONTEXT`;
        ``n_threads`` to the physical cores this process may use. ``extra_buffers`` (weight
        repacking) is off under ``auto`` on CPUs with AMX, whose kernel crashes on quantized
        models (llama.cpp, measured in ``bench/engine_buffers.py``), and on elsewhere.
        ``seed`` seeds the per-request sampling seeds of
        requests that name none. ``adapters`` maps adapter names to GGUF LoRA files.
        ``chat_template`` replaces the template of the file's metadata. ``draft_tokens``
        bounds the tokens drafted per step from the context (0: none; see
        :mod:`patchloop.models._lookup`).
        """
        self.path = Path(path).expanduser()
        if n_ctx is not None and n_ctx < _MIN_CONTEXT:
            raise UsageError(f"n_ctx must be at least {_MIN_CONTEXT} tokens, got {n_ctx}")
        meta = _check_model_file(self.path)
        self.settings = settings or ModelSettings()
        self._name = name or f"llamacpp:{self.path}"
        self._model_name = model_name or str(meta.get("general.name") or self.path.stem)
        self._capabilities = capabilities or CAPABILITIES
        self._adapter_names = {k: Path(v).expanduser() for k, v in (adapters or {}).items()}
        self._resolved: dict[str, Path] = {}
        self._grammars: dict[str, str] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        if n_ctx is None:
            trained = meta.get(f"{meta.get('general.architecture')}.context_length")
            n_ctx = min(trained, DEFAULT_MAX_CONTEXT) if isinstance(trained, int) else None
        engine_module = _engine_module()
        try:
            self._engine: Engine = engine_module.Engine(
                self.path,
                n_ctx=_FALLBACK_CONTEXT if n_ctx is None else n_ctx,
                n_threads=n_threads or physical_cores(),
                seed=seed,
                chat_template=chat_template,
                max_samples=MAX_SAMPLES,
                extra_buffers=extra_buffers == "on" or (extra_buffers == "auto" and not has_amx()),
                draft_tokens=draft_tokens,
            )
        except engine_module.EngineError as exc:
            raise ModelUnavailable(
                f"llama.cpp could not load {str(self.path)!r}: {exc}",
                hint="check that this llama-cpp-python supports the model's architecture and "
                "that there is memory for it and its context (lower n_ctx)",
                retryable=False,
            ) from exc
        self._engine_error: type[Exception] = engine_module.EngineError
        megabytes = self.settings.prefix_cache_mb
        if megabytes:
            self._engine.prefix_store = PrefixStore(
                default_store_dir(), model_identity(self.path), max_bytes=megabytes << 20
            )
        self._prefill_timeout: type[Exception] = engine_module.PrefillTimeout

    def __repr__(self) -> str:
        return f"LlamaCppModel({self._name!r})"

    @property
    def name(self) -> str:
        """The spec the model was built from."""
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        """Grammar-constrained output, adapters, counted cache reuse, the model's tokenizer."""
        return self._capabilities

    @property
    def context_size(self) -> int:
        """Tokens the context holds (prompt and reply together)."""
        return self._engine.n_ctx

    @property
    def parameters(self) -> int:
        """Parameters of the loaded model (small models get formats that suit them)."""
        return self._engine.parameters

    @property
    def threads(self) -> int:
        """Threads llama.cpp generates with."""
        return self._engine.n_threads

    @property
    def evaluated_tokens(self) -> int:
        """Tokens the engine has evaluated since loading (prompts and generated tokens)."""
        return self._engine.llm.evaluated

    def close(self) -> None:
        """Free the model and its context; the object is unusable afterwards."""
        with self._lock:
            self._engine.close()

    def __enter__(self) -> LlamaCppModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's own tokenizer."""
        return len(self._engine.tokenize(text, special=False))

    # ------------------------------------------------------------------ completion

    def complete(self, request: CompletionRequest) -> Completion:
        """Generate one reply, constrained by ``request.contract`` when it has one."""
        return self.complete_many(request, [request.sampling])[0]

    def complete_many(
        self, request: CompletionRequest, samplings: Sequence[Sampling]
    ) -> list[Completion]:
        """One reply per sampling, decoded together after one evaluation of the prompt (the
        samples share its KV cells). The first reply counts the prompt's tokens as evaluated;
        the others count all of them as cached."""
        return self._generate(request, samplings, None, 0)

    def complete_avoiding(
        self, request: CompletionRequest, reject: Callable[[str], bool], tries: int
    ) -> Completion:
        """One reply, decoded again from its least certain token while ``reject`` refuses it
        (see ``_forks.avoiding``); its usage counts every pass."""
        return self._generate(request, [request.sampling], reject, tries)[0]

    def complete_branches(
        self, request: CompletionRequest, count: int, reject: Callable[[str], bool], misses: int
    ) -> list[Completion]:
        """Up to ``count`` replies: the request's, then branches of it decoded on from its
        least certain tokens with the runner-up there (see ``_forks.branches``); a branch
        ``reject`` refuses is dropped, ``misses`` times at most."""
        if count < 1:
            raise BadRequest(f"complete_branches needs a count of at least 1, got {count}")
        return self._generate(request, [request.sampling], reject, misses, branches=count)

    def _generate(
        self,
        request: CompletionRequest,
        samplings: Sequence[Sampling],
        reject: Callable[[str], bool] | None,
        tries: int,
        *,
        branches: int = 0,
    ) -> list[Completion]:
        started = time.perf_counter()
        deadline = None if request.timeout_s is None else time.monotonic() + request.timeout_s
        if not samplings:
            raise BadRequest("complete_many needs at least one sampling")
        limit = min(s.max_tokens for s in samplings)
        if limit < 1:
            raise BadRequest(f"max_tokens must be at least 1, got {limit}")
        messages = [m.model_dump() for m in request.messages]
        outs: list[Generation] = []
        with self._lock:
            try:
                prompt = self._engine.render(messages)
            except Exception as exc:  # templates raise their own errors (roles must alternate)
                raise BadRequest(
                    f"the model's chat template rejected the messages: {exc}",
                    hint="check the message roles and order the template expects",
                ) from exc
            tokens = self._engine.continuing_tokens(prompt)
            room = self._engine.n_ctx - len(tokens)
            if room < 1:
                raise ContextTooLong(
                    f"the prompt is {len(tokens)} tokens; {self.path.name} was loaded with a "
                    f"context of {self._engine.n_ctx}",
                    hint="raise n_ctx or lower the prompt budget ([context] max_tokens)",
                )
            grammar = self._grammar(request.contract)
            self._use_adapter(request.adapter or self.settings.adapter)
            if deadline is not None and time.monotonic() >= deadline:
                raise _timeout(request.timeout_s)
            specs = [
                (
                    max(0.0, s.temperature),
                    self._rng.randrange(2**31) if s.seed is None else s.seed,
                )
                for s in samplings
            ]
            step = self._engine.max_samples
            temperature, seed = specs[0]
            decode = _forks.Decoder(
                self._engine,
                tokens,
                max_tokens=min(limit, room),
                stop=[*samplings[0].stop, self._engine.stop_text],
                grammar=grammar,
                deadline=deadline,
                unit_end=request.contract.unit_end if request.contract else None,
            )
            checkpoints = self._checkpoints(request, prompt, tokens)
            try:
                if reject is not None and branches:
                    outs = _forks.branches(
                        decode,
                        count=branches,
                        temperature=temperature,
                        seed=seed,
                        reject=reject,
                        misses=tries,
                        checkpoints=checkpoints,
                    )
                elif reject is not None:
                    outs.append(
                        _forks.avoiding(
                            decode,
                            temperature=temperature,
                            seed=seed,
                            reject=reject,
                            tries=tries,
                            checkpoints=checkpoints,
                        )
                    )
                for at in range(0, len(specs) if reject is None else 0, step):
                    outs += decode(specs[at : at + step], checkpoints=checkpoints if not at else ())
            except self._prefill_timeout:
                raise _timeout(request.timeout_s) from None
            except RuntimeError as exc:  # llama_decode failed; start the next call clean
                self._engine.llm.forget()
                raise ModelUnavailable(
                    f"llama.cpp failed while generating: {exc}", retryable=False
                ) from exc
            self._engine.remember(prompt, tokens, outs[0])
        if outs[0].finish_reason == "timeout":
            raise _timeout(request.timeout_s)
        latency = time.perf_counter() - started
        return [
            Completion(
                text=out.text,
                finish_reason=out.finish_reason,
                usage=Usage(
                    prompt_tokens=out.prompt_tokens,
                    completion_tokens=out.completion_tokens,
                    cached_tokens=max(0, out.prompt_tokens - out.evaluated_prompt_tokens),
                ),
                latency_s=latency,
                model=self._model_name,
                prefill_s=round(out.prefill_s, 4),
                decode_s=round(out.decode_s, 4),
                forks=out.retries,
            )
            for out in outs
        ]

    def _checkpoints(self, request: CompletionRequest, prompt: str, tokens: list[int]) -> list[int]:
        """Token counts of ``tokens`` at the request's cache points (none without a store)."""
        if self._engine.prefix_store is None or not request.cache_points:
            return []
        offsets: list[int] = []
        searched = 0
        for index, chars in sorted(request.cache_points):
            if not 0 <= index < len(request.messages):
                continue
            content = request.messages[index].content
            start = prompt.find(content[: max(1, min(chars, 200))], searched)
            if start < 0:
                break
            offsets.append(start + min(chars, len(content)))
            searched = start
        return self._engine.checkpoints(prompt, tokens, offsets)

    @property
    def prefix_store(self) -> PrefixStore | None:
        """The store of saved prompt prefixes, when ``prefix_cache_mb`` is not 0."""
        return self._engine.prefix_store

    def next_token_logits(self, text: str, *, adapter: str | None = None) -> list[float]:
        """Logits of the token after the raw ``text`` (no chat template) under ``adapter``.

        For checks of the loaded weights: parity with another engine, adapter effects.
        """
        with self._lock:
            tokens = self._engine.prompt_tokens(text)
            if not tokens:
                raise BadRequest("next_token_logits needs a non-empty text")
            if len(tokens) > self._engine.n_ctx:
                raise ContextTooLong(f"the text is {len(tokens)} tokens, over the context")
            self._use_adapter(adapter)
            return self._engine.next_logits(tokens)

    def refused_at(self, contract: OutputContract, text: str) -> int | None:
        """Where the sampler would refuse ``text`` under ``contract``'s grammar: the character
        offset of the first token it masks, ``None`` when every token is admitted. Checks a
        contract with this model's own tokenizer, without generating."""
        grammar = self._grammar(contract)
        if grammar is None:
            raise BadRequest(f"the {contract.name!r} contract has no grammar to check against")
        with self._lock:
            return self._engine.refused_at(grammar, text)

    # ------------------------------------------------------------------ contracts

    def _grammar(self, contract: OutputContract | None) -> str | None:
        """The GBNF grammar enforcing ``contract``, parsed once by llama.cpp; ``None`` if none."""
        if contract is None:
            return None
        if contract.grammar:
            gbnf = contract.grammar
        elif contract.json_schema is not None:
            key = json.dumps(contract.json_schema, sort_keys=True)
            if key not in self._grammars:
                self._grammars[key] = strict_json_grammar(contract.json_schema)
            gbnf = self._grammars[key]
        else:
            return None  # a regex alone: llama.cpp takes none; the reply is validated after
        try:
            self._engine.check_grammar(gbnf)
        except self._engine_error as exc:
            raise BadRequest(
                f"llama.cpp rejected the grammar of the {contract.name!r} output contract: {exc}",
                hint="fix the GBNF grammar (llama.cpp dialect, start rule 'root')",
            ) from exc
        return gbnf

    # ------------------------------------------------------------------ adapters

    def _use_adapter(self, adapter: str | None) -> None:
        path = self._adapter_path(adapter) if adapter else None
        try:
            self._engine.use_adapter(path)
        except self._engine_error as exc:
            raise BadRequest(
                f"llama.cpp could not apply adapter {adapter!r} ({path}): {exc}",
                hint="give a GGUF LoRA adapter made for this model "
                "(convert a PEFT adapter with llama.cpp's convert_lora_to_gguf.py)",
            ) from exc

    def _adapter_path(self, adapter: str) -> Path:
        """The GGUF file of ``adapter``: a configured name, a path, or a file by the model."""
        if adapter in self._resolved:
            return self._resolved[adapter]
        named = self._adapter_names.get(adapter)
        given = Path(adapter).expanduser()
        here = self.path.parent
        candidates = (
            [named]
            if named is not None
            else [given]
            if given.is_absolute()
            else [given, here / adapter, here / f"{adapter}.gguf"]
        )
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            known = ", ".join(sorted(self._adapter_names)) or "none configured"
            raise BadRequest(
                f"unknown adapter {adapter!r}: no such GGUF file "
                + ", ".join(repr(str(p)) for p in candidates),
                hint=f"name a configured adapter ({known}) or give the path of a GGUF LoRA file",
            )
        try:
            meta = read_metadata(found)
        except (GgufError, OSError) as exc:
            raise BadRequest(f"adapter {str(found)!r} is not a GGUF file: {exc}") from exc
        if meta.get("general.type") != "adapter":
            raise BadRequest(
                f"{str(found)!r} is not a LoRA adapter (general.type is "
                f"{meta.get('general.type', 'unset')!r})",
                hint="convert a PEFT adapter with llama.cpp's convert_lora_to_gguf.py",
            )
        self._resolved[adapter] = found
        return found


def _timeout(seconds: float | None) -> ModelTimeout:
    return ModelTimeout(
        f"generation stopped: the request's time limit of {seconds or 0:.3g}s passed",
        hint="raise the time budget (--timeout) or lower max output tokens",
        retryable=False,
    )


def _setting(settings: ModelSettings, key: str) -> Any:
    return getattr(settings, key, None)


def from_spec(
    spec: ModelSpec,
    settings: ModelSettings,
    *,
    capabilities: Capabilities | None = None,
) -> LlamaCppModel:
    """Load the GGUF file named by ``llamacpp:PATH[#NAME]`` (``NAME`` names it in records).

    Context size, threads, seed and named adapters come from the model settings when they
    carry ``n_ctx``, ``n_threads``, ``seed`` and ``adapters``.
    """
    adapters = _setting(settings, "adapters")
    seed = _setting(settings, "seed")
    return LlamaCppModel(
        __import__("patchloop.models.catalog", fromlist=["_"]).resolve_model_file(spec.target),
        settings=settings,
        name=str(spec),
        model_name=spec.model,
        n_ctx=_setting(settings, "n_ctx"),
        n_threads=_setting(settings, "n_threads"),
        extra_buffers=settings.extra_buffers,
        draft_tokens=settings.draft_tokens,
        seed=seed if isinstance(seed, int) else 0,
        adapters=adapters if isinstance(adapters, Mapping) else None,
        capabilities=capabilities,
    )
