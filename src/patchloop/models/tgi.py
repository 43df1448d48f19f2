"""Text Generation Inference through its native ``POST /generate``, with ``grammar`` and
``adapter_id``.

The prompt is the model's own chat template, rendered by the server's ``/chat_tokenize``
(TGI >= 2); where that route is missing the backend says so once and falls back to the plain
rendering of :mod:`patchloop.models._render`. Replies are read tolerantly: an object or a list
of objects with ``generated_text``, ``details.finish_reason`` in ``length | eos_token |
stop_sequence``, ``details.generated_tokens`` and, when present, prefill tokens.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from patchloop.config import ModelSettings
from patchloop.context.tokens import estimate_tokens
from patchloop.domain import Capabilities, Completion, CompletionRequest, OutputContract, Usage
from patchloop.errors import BadOutput
from patchloop.models import _http
from patchloop.models._http import (
    HttpBackend,
    HttpCore,
    Sleep,
    api_key,
    deadline_of,
    decode_json,
)
from patchloop.models._render import render_plain
from patchloop.models.openai import normalize_base_url
from patchloop.models.spec import ModelSpec

__all__ = ["CAPABILITIES", "TGIModel", "from_spec", "grammar_for"]

log = logging.getLogger("patchloop.models")

CAPABILITIES = Capabilities(constrained_output=True, grammar=True, adapters=True)
"""TGI takes JSON schemas and regexes (no GBNF) and ``adapter_id``; it reports no cache hits."""

_FINISH = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}
#: Statuses meaning "this server has no /chat_tokenize" (or no chat template to apply).
_NO_TEMPLATE = (404, 405, 422, 501)


def grammar_for(contract: OutputContract | None) -> dict[str, Any] | None:
    """TGI's ``grammar`` parameter for ``contract``; ``None`` when it cannot express it."""
    if contract is None:
        return None
    if contract.json_schema is not None:
        return {"type": "json", "value": contract.json_schema}
    if contract.regex is not None:
        return {"type": "regex", "value": contract.regex}
    return None


class TGIModel(HttpBackend):
    """A model served by TGI's ``/generate``."""

    def __init__(
        self,
        base_url: str,
        *,
        settings: ModelSettings | None = None,
        model: str | None = None,
        name: str | None = None,
        key: str | None = None,
        capabilities: Capabilities | None = None,
        sleep: Sleep | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings or ModelSettings()
        self.base_url = normalize_base_url(base_url).removesuffix("/v1")
        self._model = model
        self._name = name or f"tgi:{self.base_url}" + (f"#{model}" if model else "")
        self._capabilities = capabilities or CAPABILITIES
        self._http = HttpCore(
            self.base_url, self.settings, key=key, sleep=sleep, transport=transport
        )
        #: Whether ``/chat_tokenize`` exists: ``None`` until the first request finds out.
        self.chat_template: bool | None = None

    def health(self) -> str:
        """``ok`` when ``GET /health`` answers 2xx; raises otherwise."""
        self._http.request("GET", "/health", timeout=_http.DISCOVERY_TIMEOUT_S)
        return "ok"

    def served_models(self) -> list[str]:
        """The one model TGI serves, from ``GET /info``."""
        info = self._http.get_json("/info")
        model_id = info.get("model_id") if isinstance(info, dict) else None
        return [str(model_id)] if model_id else []

    def _served_context(self) -> int | None:
        """``max_total_tokens`` (prompt and reply) from ``GET /info``."""
        info = self._http.get_json("/info")
        found = info.get("max_total_tokens") if isinstance(info, dict) else None
        return found if isinstance(found, int) and found > 0 else None

    # ------------------------------------------------------------------ completion

    def prompt(
        self, request: CompletionRequest, *, deadline: float | None = None
    ) -> tuple[str, int | None]:
        """The prompt text and its token count where the server told us."""
        messages = [m.model_dump() for m in request.messages]
        if self.chat_template is not False:
            resp = self._http.request(
                "POST",
                "/chat_tokenize",
                {"model": "tgi", "messages": messages},
                accept=_NO_TEMPLATE,
                deadline=deadline,
            )
            data = decode_json(resp) if resp.is_success else None
            if isinstance(data, dict) and isinstance(data.get("templated_text"), str):
                self.chat_template = True
                tokens = data.get("tokenize_response")
                return data["templated_text"], len(tokens) if isinstance(tokens, list) else None
            self.chat_template = False
            log.info(
                "%s has no usable /chat_tokenize (HTTP %d); using the plain prompt rendering",
                self.base_url,
                resp.status_code,
            )
        return render_plain(request.messages), None

    def request_body(self, request: CompletionRequest, prompt: str) -> dict[str, Any]:
        """The ``/generate`` body for ``request``."""
        s = request.sampling
        params: dict[str, Any] = {
            "max_new_tokens": s.max_tokens,
            "details": True,
            "return_full_text": False,
        }
        if s.temperature > 0:
            params.update(temperature=s.temperature, do_sample=True)
        else:  # TGI rejects temperature 0; greedy decoding is do_sample false
            params["do_sample"] = False
        if s.seed is not None:
            params["seed"] = s.seed
        if s.stop:
            params["stop"] = list(s.stop)
        adapter = request.adapter or self.settings.adapter
        if adapter:
            params["adapter_id"] = adapter
        grammar = grammar_for(request.contract)
        if grammar is not None:
            params["grammar"] = grammar
        return {"inputs": prompt, "parameters": params}

    def complete(self, request: CompletionRequest) -> Completion:
        """One generation; server failures raise from the error tree."""
        deadline = deadline_of(request.timeout_s)
        started = time.perf_counter()
        prompt, prompt_tokens = self.prompt(request, deadline=deadline)
        body = self.request_body(request, prompt)
        data = self._http.post_json("/generate", body, deadline=deadline)
        latency = time.perf_counter() - started
        return self.parse_reply(data, prompt, prompt_tokens, latency=latency)

    def parse_reply(
        self, data: Any, prompt: str, prompt_tokens: int | None, *, latency: float
    ) -> Completion:
        """Read a ``/generate`` body of any TGI version; malformed bodies raise ``BadOutput``."""
        if isinstance(data, list) and data:
            data = data[0]
        text = data.get("generated_text") if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise BadOutput(
                f"{self.base_url}/generate answered without generated_text: {str(data)[:200]!r}"
            )
        details = data.get("details") if isinstance(data.get("details"), dict) else {}
        reason = str(details.get("finish_reason") or "stop")
        generated = details.get("generated_tokens")
        prefill = details.get("prefill")
        if isinstance(prefill, list) and prefill:
            prompt_tokens = len(prefill)
        elif isinstance(details.get("input_length"), int):
            prompt_tokens = details["input_length"]
        return Completion(
            text=text,
            finish_reason=_FINISH.get(reason, reason),
            usage=Usage(
                prompt_tokens=prompt_tokens
                if prompt_tokens is not None
                else estimate_tokens(prompt),
                completion_tokens=generated
                if isinstance(generated, int)
                else estimate_tokens(text),
            ),
            latency_s=latency,
            model=self._model or "tgi",
        )


def from_spec(
    spec: ModelSpec,
    settings: ModelSettings,
    *,
    capabilities: Capabilities | None = None,
    sleep: Sleep | None = None,
    transport: httpx.BaseTransport | None = None,
) -> TGIModel:
    """Build the backend for a ``tgi:URL[#MODEL]`` spec."""
    return TGIModel(
        spec.target,
        settings=settings,
        model=spec.model,
        name=str(spec),
        key=api_key(settings, fallback=False),
        capabilities=capabilities,
        sleep=sleep,
        transport=transport,
    )
