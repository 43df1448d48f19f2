"""OpenAI-compatible chat completions (vLLM, SGLang, llama.cpp, Ollama, OpenAI) over httpx.

One class for every such server; a :class:`~patchloop.models.profiles.ServerProfile` says how
the output contract, the adapter and the token limit go into the request and where cached
tokens are reported.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from patchloop.config import ModelSettings
from patchloop.context.tokens import estimate_tokens
from patchloop.domain import Capabilities, Completion, CompletionRequest, Sampling, Usage
from patchloop.errors import BadOutput, ModelTimeout, UsageError
from patchloop.models import _http
from patchloop.models._http import (
    HttpBackend,
    HttpCore,
    Sleep,
    api_key,
    deadline_of,
)
from patchloop.models.profiles import PROFILES, ServerProfile, profile_for
from patchloop.models.spec import ModelSpec

__all__ = ["OpenAIModel", "from_spec", "normalize_base_url"]

_LISTED = 20


def normalize_base_url(target: str) -> str:
    """``target`` as an API base URL; a bare ``http://host:port`` gets ``/v1`` appended."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"{target!r} is not an http(s) URL",
            hint="give the server's API base, e.g. http://127.0.0.1:8000/v1",
        )
    base = target.rstrip("/")
    return base if parts.path.strip("/") else base + "/v1"


class OpenAIModel(HttpBackend):
    """A model served behind ``POST {base}/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        *,
        profile: ServerProfile,
        settings: ModelSettings | None = None,
        model: str | None = None,
        name: str | None = None,
        key: str | None = None,
        capabilities: Capabilities | None = None,
        sleep: Sleep | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings or ModelSettings()
        self.profile = profile
        self.base_url = normalize_base_url(base_url)
        self._model = model
        self._name = name or f"{profile.kind}:{self.base_url}" + (f"#{model}" if model else "")
        self._capabilities = capabilities or profile.capabilities
        self._http = HttpCore(
            self.base_url, self.settings, key=key, sleep=sleep, transport=transport
        )

    # ------------------------------------------------------------------ discovery

    def served_models(self) -> list[str]:
        """Model ids from ``GET {base}/models``."""
        return [str(m["id"]) for m in self._model_list()]

    def _model_list(self) -> list[dict[str, Any]]:
        data = self._http.get_json("/models")
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BadOutput(f"{self.base_url}/models did not return a model list")
        return [m for m in items if isinstance(m, dict) and "id" in m]

    def _served_context(self) -> int | None:
        """``max_model_len`` of the served model in the model list (vLLM, SGLang)."""
        items = self._model_list()
        named = [m for m in items if m["id"] == self._model] if self._model else items
        found = named[0].get("max_model_len") if len(named) == 1 else None
        return found if isinstance(found, int) and found > 0 else None

    @property
    def model(self) -> str:
        """The served model; asked from the server once when the spec named none."""
        if self._model is None:
            served = self.served_models()
            if len(served) != 1:
                listed = ", ".join(served[:_LISTED]) + (" ..." if len(served) > _LISTED else "")
                raise UsageError(
                    f"{self.base_url} serves {len(served)} models"
                    + (f": {listed}" if served else ""),
                    hint=f"name one in the spec, e.g. {self.profile.kind}:{self.base_url}#"
                    + (served[0] if served else "MODEL"),
                )
            self._model = served[0]
        return self._model

    def health(self) -> str:
        """``ok`` when the health route (or the model list) answers 2xx; raises otherwise."""
        if self.profile.health_path is None:
            self.served_models()
            return "ok"
        root = self.base_url.removesuffix("/v1")
        self._http.request(
            "GET", root + self.profile.health_path, timeout=_http.DISCOVERY_TIMEOUT_S
        )
        return "ok"

    # ------------------------------------------------------------------ completion

    def request_body(self, request: CompletionRequest) -> dict[str, Any]:
        """The JSON body for ``request`` in this server's shape."""
        s = request.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in request.messages],
            self.profile.max_tokens_field: s.max_tokens,
            "temperature": s.temperature,
            "stream": False,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if s.stop:
            body["stop"] = list(s.stop)
        if request.cache_key and self.profile.cache_key_field:
            body[self.profile.cache_key_field] = request.cache_key
        self.profile.shape(body, request.contract)
        self.profile.place_adapter(body, self.model, request.adapter or self.settings.adapter)
        return body

    def complete(self, request: CompletionRequest) -> Completion:
        """One chat completion; server failures raise from the error tree."""
        return self._ask(request, deadline_of(request.timeout_s), 1)[0]

    def complete_many(
        self, request: CompletionRequest, samplings: Sequence[Sampling]
    ) -> list[Completion]:
        """One completion per sampling, in order. On a server that answers several choices,
        samplings that differ only in their seed go in one request with ``n`` (the prompt is
        evaluated once); choices a server leaves out are asked for one at a time."""
        deadline = deadline_of(request.timeout_s)
        groups: dict[tuple[object, ...], list[int]] = {}
        for index, sampling in enumerate(samplings):
            same = (sampling.temperature, sampling.max_tokens, sampling.stop)
            groups.setdefault(same if self._several(sampling) else (index,), []).append(index)
        out: dict[int, Completion] = {}
        for indexes in groups.values():
            one = request.model_copy(update={"sampling": samplings[indexes[0]]})
            answered = self._ask(one, deadline, len(indexes))
            out.update(zip(indexes, answered, strict=False))  # a server may send fewer
            for index in indexes:
                if index not in out:
                    alone = request.model_copy(update={"sampling": samplings[index]})
                    out[index] = self._ask(alone, deadline, 1)[0]
        return [out[index] for index in range(len(samplings))]

    def _several(self, sampling: Sampling) -> bool:
        """Whether samples like this one can share a request (greedy ones would be equal)."""
        return self.profile.several_choices and sampling.temperature > 0

    def _ask(self, request: CompletionRequest, deadline: float | None, n: int) -> list[Completion]:
        """The choices of one request for ``n`` of them (at least one, maybe fewer)."""
        body = self.request_body(request)
        if n > 1:
            body["n"] = n
        if deadline is not None and deadline <= time.monotonic():
            raise ModelTimeout("the time budget ran out before the model was asked")
        started = time.perf_counter()
        data = self._http.post_json("/chat/completions", body, deadline=deadline)
        latency = time.perf_counter() - started
        first = self.parse_reply(data, request, latency=latency, sent_model=str(body["model"]))
        return [first] if n == 1 else _choices(data, first, latency, n)

    def parse_reply(
        self, data: Any, request: CompletionRequest, *, latency: float, sent_model: str
    ) -> Completion:
        """Read a chat-completion body; malformed bodies raise ``BadOutput``."""
        where = f"{self.base_url}/chat/completions"
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            if isinstance(data, dict) and "error" in data:  # an error sent with status 200
                raise BadOutput(f"{where} answered 200 with an error: {data['error']}")
            raise BadOutput(f"{where} answered without choices: {str(data)[:200]!r}")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise BadOutput(f"{where} answered a choice without a message")
        text = _content(message.get("content"))
        if not text.strip():
            # Reasoning parsers may move a constrained answer into the reasoning field.
            text = _content(message.get("reasoning")) or _content(message.get("reasoning_content"))
        if not text and message.get("refusal"):
            raise BadOutput(f"the model refused: {message['refusal']}", retryable=False)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        cached = self.profile.cached_tokens(data)
        return Completion(
            text=text,
            finish_reason=str(choice.get("finish_reason") or "stop"),
            usage=Usage(
                prompt_tokens=prompt
                if isinstance(prompt, int)
                else sum(estimate_tokens(m.content) for m in request.messages),
                completion_tokens=completion
                if isinstance(completion, int)
                else estimate_tokens(text),
                cached_tokens=cached or 0,
            ),
            latency_s=latency,
            model=str(data.get("model") or sent_model),
        )


def _content(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts
        return "".join(
            str(p.get("text", "")) for p in value if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def from_spec(
    spec: ModelSpec,
    settings: ModelSettings,
    *,
    capabilities: Capabilities | None = None,
    sleep: Sleep | None = None,
    transport: httpx.BaseTransport | None = None,
) -> OpenAIModel:
    """Build the backend for an OpenAI-compatible ``spec`` (its kind picks the profile; a
    kind without a profile, such as a dotted path to this function, gets ``openai``'s)."""
    return OpenAIModel(
        spec.target,
        profile=PROFILES.get(spec.kind) or profile_for("openai"),
        settings=settings,
        model=spec.model,
        name=str(spec),
        key=api_key(settings, fallback=spec.kind == "openai"),
        capabilities=capabilities,
        sleep=sleep,
        transport=transport,
    )


def _choices(data: Any, first: Completion, latency: float, n: int) -> list[Completion]:
    """Up to ``n`` choices of a reply whose first is ``first``: the prompt was evaluated once,
    so its tokens count on the first only, and the completion tokens are shared out."""
    texts = [first.text]
    for choice in data["choices"][1:n]:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            break
        texts.append(_content(message.get("content")))
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    reported = usage.get("completion_tokens")
    estimates = [max(1, estimate_tokens(t)) for t in texts]
    shares = estimates
    if isinstance(reported, int) and reported > 0:
        shares = [round(reported * e / sum(estimates)) for e in estimates]
    out = [
        first.model_copy(
            update={"usage": first.usage.model_copy(update={"completion_tokens": shares[0]})}
        )
    ]
    for k, text in enumerate(texts[1:], start=1):
        out.append(
            Completion(
                text=text,
                finish_reason=str(data["choices"][k].get("finish_reason") or "stop"),
                usage=Usage(completion_tokens=shares[k]),
                latency_s=latency,
                model=first.model,
            )
        )
    return out
