"""Server profiles: how each OpenAI-compatible server wants the output contract, the adapter
and the token limit, where it reports cached tokens, and what it can do.

"OpenAI-compatible" does not mean identical. Shapes per server (see the inference notes):

- ``openai``: ``response_format: {"type": "json_schema", "json_schema": {name, strict, schema}}``;
  no grammar or regex; adapters ignored.
- ``vllm``: ``structured_outputs: {"json": S}`` or ``{"regex": R}`` or ``{"grammar": G}`` (the
  legacy ``guided_*`` fields are silently ignored since v0.12); ``max_completion_tokens``;
  adapter as ``model``.
- ``sglang``: OpenAI ``response_format`` json_schema, or top-level ``regex`` / ``ebnf``;
  adapter as ``model: "BASE:adapter"``; cached tokens in usage or ``meta_info``.
- ``llama-server``: nested ``response_format.json_schema.schema`` (a bare schema there is
  replaced by ``{}``) or top-level GBNF ``grammar``; numeric adapter ids as ``lora``; cached
  tokens in usage, ``timings.cache_n`` or ``tokens_cached``.
- ``llama-cpp-python``: ``response_format: {"type": "json_object", "schema": S}`` (its server
  rejects ``json_schema`` with a 500) or ``grammar``.
- ``ollama``: ``response_format`` json_schema, mapped by Ollama to ``format``; no grammar.

Where a contract has no JSON schema but the server takes a regex or grammar, that is sent:
regex first on vLLM and SGLang (portable across their grammar engines), GBNF on llama.cpp.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from patchloop.domain import Capabilities, OutputContract
from patchloop.errors import UnknownComponent

__all__ = ["PROFILES", "ServerProfile", "profile_for"]

log = logging.getLogger("patchloop.models")

Body = dict[str, Any]
AdapterMode = Literal["model", "base:adapter", "lora-id", "none"]

_USAGE_CACHED = ("usage", "prompt_tokens_details", "cached_tokens")


def _schema_name(contract: OutputContract) -> str:
    # OpenAI accepts [A-Za-z0-9_-]{1,64} as a schema name.
    return re.sub(r"[^A-Za-z0-9_-]", "_", contract.name)[:64] or "output"


def _json_schema_format(contract: OutputContract, *, strict: bool) -> Body:
    inner: Body = {"name": _schema_name(contract), "schema": contract.json_schema}
    if strict:
        inner["strict"] = True
    return {"type": "json_schema", "json_schema": inner}


def _openai(c: OutputContract) -> Body:
    if c.json_schema is not None:
        return {"response_format": _json_schema_format(c, strict=True)}
    return {}


def _vllm(c: OutputContract) -> Body:
    if c.json_schema is not None:
        return {"structured_outputs": {"json": c.json_schema}}
    if c.regex is not None:
        return {"structured_outputs": {"regex": c.regex}}
    if c.grammar is not None:
        return {"structured_outputs": {"grammar": c.grammar}}
    return {}


def _sglang(c: OutputContract) -> Body:
    if c.json_schema is not None:
        return {"response_format": _json_schema_format(c, strict=True)}
    if c.regex is not None:
        return {"regex": c.regex}
    if c.grammar is not None:
        return {"ebnf": c.grammar}
    return {}


def _llama_server(c: OutputContract) -> Body:
    if c.json_schema is not None:
        return {"response_format": _json_schema_format(c, strict=False)}
    if c.grammar is not None:
        return {"grammar": c.grammar}
    return {}


def _llama_cpp_python(c: OutputContract) -> Body:
    if c.json_schema is not None:
        return {"response_format": {"type": "json_object", "schema": c.json_schema}}
    if c.grammar is not None:
        return {"grammar": c.grammar}
    return {}


def _ollama(c: OutputContract) -> Body:
    if c.json_schema is not None:
        return {"response_format": _json_schema_format(c, strict=False)}
    return {}


@dataclass(frozen=True)
class ServerProfile:
    """How one kind of OpenAI-compatible server is spoken to."""

    kind: str
    capabilities: Capabilities
    contract_fields: Callable[[OutputContract], Body]
    """Request fields that carry an output contract, in this server's shape."""
    adapter_mode: AdapterMode = "none"
    max_tokens_field: str = "max_tokens"
    health_path: str | None = None
    """Health route under the server root; ``None``: ``GET {base}/models`` instead."""
    cached_paths: tuple[tuple[str, ...], ...] = (_USAGE_CACHED,)
    """Where a reply reports prompt tokens served from cache, first found wins."""
    thinking_off_for_contracts: bool = False
    """Send ``chat_template_kwargs.enable_thinking = false`` with a contract, so reasoning
    templates do not move the constrained answer into a reasoning field."""
    cache_key_field: str | None = None
    several_choices: bool = False
    """The server answers ``n`` choices per request (samples of one prompt share its prefill)."""
    _warned: set[str] = field(default_factory=set, compare=False, repr=False)

    def shape(self, body: Body, contract: OutputContract | None) -> None:
        """Add the contract to ``body`` in this server's shape."""
        if contract is None:
            return
        fields = self.contract_fields(contract)
        if not fields and "contract" not in self._warned:
            self._warned.add("contract")
            log.info(
                "%s cannot constrain output to %r; replies are validated only",
                self.kind,
                contract.name,
            )
        body.update(fields)
        if fields and contract.json_schema is not None and self.thinking_off_for_contracts:
            body["chat_template_kwargs"] = {"enable_thinking": False}

    def place_adapter(self, body: Body, base_model: str, adapter: str | None) -> None:
        """Select ``adapter`` in ``body`` the way this server selects LoRA adapters."""
        if not adapter:
            return
        if self.adapter_mode == "model":
            body["model"] = adapter
        elif self.adapter_mode == "base:adapter":
            body["model"] = f"{base_model}:{adapter}"
        elif self.adapter_mode == "lora-id" and adapter.isdigit():
            body["lora"] = [{"id": int(adapter), "scale": 1.0}]
        elif adapter not in self._warned:
            self._warned.add(adapter)
            log.warning(
                "%s servers cannot select adapter %r per request; using the served model",
                self.kind,
                adapter,
            )

    def cached_tokens(self, data: Any) -> int | None:
        """Prompt tokens the reply says came from the prefix cache, ``None`` if not reported."""
        for path in self.cached_paths:
            node = data
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, int) and not isinstance(node, bool):
                return node
        return None


PROFILES: dict[str, ServerProfile] = {
    p.kind: p
    for p in (
        ServerProfile(
            kind="openai",
            capabilities=Capabilities(constrained_output=True, reports_cached_tokens=True),
            contract_fields=_openai,
            cache_key_field="prompt_cache_key",
            several_choices=True,
        ),
        ServerProfile(
            kind="vllm",
            capabilities=Capabilities(
                constrained_output=True, grammar=True, adapters=True, reports_cached_tokens=True
            ),
            contract_fields=_vllm,
            adapter_mode="model",
            max_tokens_field="max_completion_tokens",
            health_path="/health",
            thinking_off_for_contracts=True,
            several_choices=True,
        ),
        ServerProfile(
            kind="sglang",
            capabilities=Capabilities(
                constrained_output=True, grammar=True, adapters=True, reports_cached_tokens=True
            ),
            contract_fields=_sglang,
            adapter_mode="base:adapter",
            health_path="/health",
            cached_paths=(_USAGE_CACHED, ("meta_info", "cached_tokens")),
            thinking_off_for_contracts=True,
            several_choices=True,
        ),
        ServerProfile(
            kind="llama-server",
            capabilities=Capabilities(
                constrained_output=True, grammar=True, reports_cached_tokens=True
            ),
            contract_fields=_llama_server,
            adapter_mode="lora-id",
            health_path="/health",
            cached_paths=(_USAGE_CACHED, ("timings", "cache_n"), ("tokens_cached",)),
        ),
        ServerProfile(
            kind="llama-cpp-python",
            capabilities=Capabilities(constrained_output=True, grammar=True),
            contract_fields=_llama_cpp_python,
        ),
        ServerProfile(
            kind="ollama",
            capabilities=Capabilities(constrained_output=True),
            contract_fields=_ollama,
            health_path="/",
        ),
    )
}


def profile_for(kind: str) -> ServerProfile:
    """The profile of ``kind``; unknown kinds list the valid ones."""
    try:
        return PROFILES[kind]
    except KeyError:
        valid = ", ".join(sorted(PROFILES))
        raise UnknownComponent(
            f"no server profile {kind!r}", hint=f"valid profiles: {valid}"
        ) from None
