"""The child process of ``models check llamacpp:...``: load, prefill, generate, constrain.

Run as ``python -m patchloop.models._check_child`` with a :class:`ChildRequest` on stdin; it
prints one JSON line per stage it starts (``load``, ``prefill``, ``generate``,
``constrained``), then ``done`` with the measurements, or ``failed`` with an error of patchloop's
tree. A native crash ends it without a final line: the parent reads the signal and the last
stage from what was printed.
"""

from __future__ import annotations

import faulthandler
import json
import sys
import time

from pydantic import BaseModel, ConfigDict

from patchloop.config import ModelSettings
from patchloop.domain import CompletionRequest, Message, OutputContract, Sampling
from patchloop.errors import BadOutput, PatchloopError
from patchloop.models.spec import ModelSpec

__all__ = ["ChildRequest"]

_CHAT = (
    Message(role="system", content="You are a concise coding assistant."),
    Message(
        role="user",
        content="This function should return the largest item of a list, but it fails:\n\n"
        "def largest(items):\n    best = items[0]\n    for item in items:\n"
        "        if item < best:\n            best = item\n    return best\n\n"
        "Explain the bug in one sentence.",
    ),
)
_GENERATE = 16
_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"language": {"type": "string", "enum": ["python", "rust"]}},
    "required": ["language"],
    "additionalProperties": False,
}


class ChildRequest(BaseModel):
    """What the parent sends the child on stdin."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: ModelSpec
    settings: ModelSettings


def _rate(tokens: int, seconds: float) -> float:
    return round(tokens / seconds, 1) if seconds > 0 else 0.0


def _emit(stage: str, **data: object) -> None:
    print(json.dumps({"stage": stage, **data}), flush=True)


def _child() -> int:
    """Load, prefill, generate, constrain; one JSON line per stage on stdout."""
    from patchloop.models import build_model
    from patchloop.models.validate import validate_json_output

    faulthandler.enable()  # a native crash still prints the Python stack on stderr
    request = ChildRequest.model_validate_json(sys.stdin.read())
    try:
        _emit("load")
        started = time.perf_counter()
        model = build_model(request.spec, request.settings, use_recorded=False)
        load_s = time.perf_counter() - started
        _emit("prefill", load_s=round(load_s, 3))
        ask = CompletionRequest(
            messages=_CHAT, sampling=Sampling(temperature=0.0, max_tokens=1, seed=0)
        )
        first = model.complete(ask)
        prompt = first.usage.prompt_tokens
        _emit(
            "generate",
            model=first.model,
            prompt_tokens=prompt,
            prefill_tok_s=_rate(prompt, first.latency_s),
        )
        ask = ask.model_copy(update={"sampling": Sampling(temperature=0.0, max_tokens=_GENERATE)})
        again = model.complete(ask)
        made = again.usage.completion_tokens
        _emit(
            "constrained",
            generated_tokens=made,
            generation_s=round(again.latency_s, 3),
            generation_tok_s=_rate(made, again.latency_s),
            cached_tokens=again.usage.cached_tokens,
            reply=again.text[:200],
        )
        probe = CompletionRequest(
            messages=(Message(role="user", content="Which language is this project in?"),),
            contract=OutputContract(name="probe", json_schema=_SCHEMA),
            sampling=Sampling(temperature=0.0, max_tokens=32, seed=0),
        )
        try:
            validate_json_output(model.complete(probe).text, _SCHEMA)
            constrained = True
        except BadOutput:
            constrained = False
        _emit("done", constrained=constrained)
    except PatchloopError as exc:
        print(json.dumps({"stage": "failed", "error": exc.message, "hint": exc.hint}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child())
