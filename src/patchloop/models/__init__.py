"""Model backends behind the ``Model`` seam, built from specs ``KIND:TARGET[#MODEL]``.

Kinds: ``openai`` (any OpenAI-compatible server, OpenAI itself), ``vllm``, ``sglang``,
``llama-server`` (llama.cpp), ``llama-cpp-python``, ``ollama`` (its ``/v1``) — one backend with
a server profile each — plus ``tgi`` (TGI's native ``/generate``), ``llamacpp`` (a GGUF file
loaded in-process, extra ``local``) and ``scripted`` (replays a JSONL file). A dotted path to a
factory works as a kind too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from patchloop.config import ModelSettings
from patchloop.domain import Capabilities
from patchloop.errors import UnknownComponent
from patchloop.models.capcache import ModelCheck, load_capabilities, record_check
from patchloop.models.scripted import ScriptedModel, ScriptedReply
from patchloop.models.spec import EXAMPLE_SPEC, ModelSpec, parse_spec
from patchloop.models.validate import validate_json_output
from patchloop.protocols import Model
from patchloop.registry import Registry

__all__ = [
    "MODELS",
    "ModelCheck",
    "ModelFactory",
    "ModelSpec",
    "ScriptedModel",
    "ScriptedReply",
    "build_model",
    "load_capabilities",
    "parse_spec",
    "record_check",
    "validate_json_output",
]

log = logging.getLogger("patchloop.models")


class ModelFactory(Protocol):
    """What a ``model kind`` registry entry is: spec and settings in, a ``Model`` out.

    ``capabilities``, when given, replaces the backend's declared capabilities (it carries what
    ``patchloop models check`` measured).
    """

    def __call__(
        self,
        spec: ModelSpec,
        settings: ModelSettings,
        *,
        capabilities: Capabilities | None = None,
    ) -> Model: ...


_OPENAI = "patchloop.models.openai:from_spec"

MODELS: Registry[ModelFactory] = Registry(
    "model kind",
    {
        "openai": _OPENAI,
        "vllm": _OPENAI,
        "sglang": _OPENAI,
        "llama-server": _OPENAI,
        "llama-cpp-python": _OPENAI,
        "ollama": _OPENAI,
        "tgi": "patchloop.models.tgi:from_spec",
        "scripted": "patchloop.models.scripted:from_spec",
        "llamacpp": "patchloop.models.llamacpp:from_spec",
    },
)


def build_model(
    spec: str | ModelSpec,
    settings: ModelSettings | None = None,
    *,
    capabilities_file: Path | None = None,
    use_recorded: bool = True,
) -> Model:
    """The backend for ``spec``; no network traffic happens here.

    With ``use_recorded``, capabilities measured by an earlier ``models check`` of the same
    spec (see :mod:`patchloop.models.capcache`) replace the declared ones.
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if parsed.kind not in MODELS.names() and "." not in parsed.kind:
        raise UnknownComponent(
            f"unknown model kind {parsed.kind!r} in {str(parsed)!r}",
            hint=f"valid kinds: {', '.join(MODELS.names())}; for example {EXAMPLE_SPEC!r}",
        )
    factory = MODELS.resolve(parsed.kind)
    measured = None
    if use_recorded and parsed.kind != "scripted":
        check = load_capabilities(parsed, capabilities_file)
        if check is not None and check.reachable:
            log.info("using capabilities measured for %s at %s", parsed, check.checked_at)
            measured = check.capabilities
    return factory(parsed, settings or ModelSettings(), capabilities=measured)
