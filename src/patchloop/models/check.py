"""``patchloop models check``: is the server up, what does it serve, does it really enforce
the output contract, does it report cached tokens — measured, then recorded for later runs.

An embedded ``llamacpp:`` model is checked by a short real generation in a child process
(:mod:`patchloop.models.local_check`), so a crashing native build is reported, not fatal.

Enforcement is measured with probes that ask for prose while the contract demands a small
JSON object: only a server that constrains decoding answers them with valid JSON, so a model
that merely obeys instructions cannot pass for an enforcing server.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from patchloop.config import ModelSettings
from patchloop.domain import (
    Capabilities,
    Completion,
    CompletionRequest,
    Message,
    OutputContract,
    Sampling,
)
from patchloop.errors import BadOutput, BadRequest, ContextTooLong, ModelError, PatchloopError
from patchloop.models import build_model
from patchloop.models.capcache import ModelCheck, record_check
from patchloop.models.scripted import load_replies
from patchloop.models.spec import ModelSpec, parse_spec
from patchloop.models.validate import validate_json_output
from patchloop.protocols import Model

__all__ = ["PROBE_SCHEMA", "check_model", "describe_check"]

PROBE_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "colour": {"type": "string", "enum": ["red", "green", "blue"]},
        "sure": {"type": "boolean"},
    },
    "required": ["colour", "sure"],
    "additionalProperties": False,
}
_PROBES = (
    "Describe the sea in one sentence.",
    "Write a short greeting for a colleague.",
    "List three fruits, separated by commas.",
    "Explain what a unit test is in a few words.",
)
_SYSTEM = "You are a concise assistant."
# About 1200 tokens: OpenAI caches prompts of 1024 tokens and more. Servers with a small
# context window get the short variant.
_CACHE_LINES = [
    f"Line {i}: the quick brown fox jumps over the lazy dog near river bank {i % 7}."
    for i in range(64)
]
_CACHE_PROMPTS = ("\n".join(_CACHE_LINES), "\n".join(_CACHE_LINES[:12]))


@runtime_checkable
class _Inspectable(Protocol):
    def health(self) -> str: ...

    def served_models(self) -> list[str]: ...

    def close(self) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _scripted(spec: ModelSpec) -> ModelCheck:
    try:
        replies = len(load_replies(Path(spec.target)))
    except PatchloopError as exc:
        return ModelCheck(
            spec=str(spec),
            kind=spec.kind,
            target=spec.target,
            reachable=False,
            errors=(str(exc),),
            checked_at=_now(),
        )
    return ModelCheck(
        spec=str(spec),
        kind=spec.kind,
        target=spec.target,
        model=spec.model,
        reachable=True,
        health=f"ok ({replies} scripted replies)",
        constrained_output=False,
        reports_cached_tokens=True,
        capabilities=Capabilities(reports_cached_tokens=True),
        checked_at=_now(),
    )


def _probe(model: Model, prompt: str) -> tuple[Completion, str | None]:
    request = CompletionRequest(
        messages=(Message(role="system", content=_SYSTEM), Message(role="user", content=prompt)),
        contract=OutputContract(name="probe", json_schema=PROBE_SCHEMA),
        sampling=Sampling(temperature=0.0, max_tokens=128, seed=0),
    )
    completion = model.complete(request)
    try:
        validate_json_output(completion.text, PROBE_SCHEMA)
    except BadOutput as exc:
        return completion, f"{prompt!r}: {exc.message}"
    return completion, None


def _cached(model: Model) -> int:
    """Cached tokens reported when the same prompt is sent a second time."""
    for text in _CACHE_PROMPTS:
        request = CompletionRequest(
            messages=(
                Message(role="system", content=_SYSTEM),
                Message(role="user", content=text + "\nReply with OK."),
            ),
            sampling=Sampling(temperature=0.0, max_tokens=1, seed=0),
            cache_key="patchloop-models-check",
        )
        try:
            model.complete(request)
        except ContextTooLong:
            if text is _CACHE_PROMPTS[-1]:
                raise
            continue
        return model.complete(request).usage.cached_tokens
    raise AssertionError("unreachable: the last prompt returns or raises")


def check_model(
    spec: str | ModelSpec,
    settings: ModelSettings | None = None,
    *,
    probes: int = 3,
    cache_path: Path | None = None,
    record: bool = True,
    model_cache: Path | None = None,
) -> ModelCheck:
    """Check ``spec`` and (with ``record``) store the result in the capability cache.

    ``model_cache`` is where an embedded model's catalog name is looked up.
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if parsed.kind == "scripted":
        result: ModelCheck = _scripted(parsed)
    elif parsed.kind == "llamacpp":
        # Native code that may crash: a real generation, in a child process.
        from patchloop.models.local_check import check_local

        result = check_local(parsed, settings or ModelSettings(), cache_dir=model_cache)
    else:
        # A check should answer quickly: at most one retry per request.
        settings = settings or ModelSettings()
        quick = settings.model_copy(update={"retries": min(settings.retries, 1)})
        model = build_model(parsed, quick, use_recorded=False)
        try:
            result = _check_server(parsed, model, probes)
        finally:
            if isinstance(model, _Inspectable):
                model.close()
    if record:
        record_check(result, cache_path)
    return result


def _inspect(model: Model) -> tuple[bool, str, list[str], list[str]]:
    """Reachability, health text, served models and errors of a server."""
    if not isinstance(model, _Inspectable):
        return True, "not checked (custom backend)", [], []  # the probes tell
    errors: list[str] = []
    health, served, reachable = "", [], False
    try:
        health = model.health()
        reachable = True
    except BadRequest as exc:  # no health route (404): the model list decides
        health = f"no health route: {exc.message}"
    except ModelError as exc:
        health = f"failed: {exc.message}"
        errors.append(f"health: {exc}")
    try:
        served = model.served_models()
        reachable = True
    except ModelError as exc:
        errors.append(f"served models: {exc}")
    return reachable, health, served, errors


def _check_server(spec: ModelSpec, model: Model, probes: int) -> ModelCheck:
    reachable, health, served, errors = _inspect(model)
    base = model.capabilities
    head = ModelCheck(
        spec=str(spec),
        kind=spec.kind,
        target=spec.target,
        model=spec.model,
        reachable=reachable,
        health=health,
        served_models=tuple(served),
        capabilities=base,
        errors=tuple(errors),
        checked_at=_now(),
    )
    if not reachable:
        return head
    resolved = spec.model
    latencies: list[float] = []
    failures: list[str] = []
    sent = 0
    rejected = False
    try:
        named = getattr(model, "model", None)  # discovers the served model when unnamed
        resolved = named if isinstance(named, str) else spec.model
        for prompt in _PROBES[:probes]:
            try:
                completion, failure = _probe(model, prompt)
            except BadRequest as exc:
                # The server refuses the schema field: the contract cannot be sent to it.
                sent += 1
                rejected = True
                failures.append(f"{prompt!r}: the server rejected the output contract: {exc}")
                break
            sent += 1
            latencies.append(completion.latency_s)
            if failure:
                failures.append(failure)
    except PatchloopError as exc:
        errors.append(f"constrained probe: {exc}")
    constrained = False if rejected else (not failures) if sent else None
    cached: int | None = None
    try:
        cached = _cached(model)
    except PatchloopError as exc:
        errors.append(f"cache probe: {exc}")
    reports = None if cached is None else cached > 0
    measured = base.model_copy(
        update={
            "constrained_output": base.constrained_output if constrained is None else constrained,
            # Servers that let a JSON schema fail open are not trusted with grammars either.
            "grammar": base.grammar and constrained is not False,
            "reports_cached_tokens": base.reports_cached_tokens if reports is None else reports,
        }
    )
    return head.model_copy(
        update={
            "model": resolved,
            "constrained_output": constrained,
            "probes_sent": sent,
            "probes_valid": sent - len(failures),
            "probe_failures": tuple(failures),
            "reports_cached_tokens": reports,
            "cached_tokens": cached or 0,
            "latency_s": statistics.median(latencies) if latencies else None,
            "capabilities": measured,
            "errors": tuple(errors),
        }
    )


def _yes_no(value: bool | None) -> str:
    return "not measured" if value is None else "yes" if value else "NO"


def describe_check(check: ModelCheck) -> str:
    """The check as lines of text for a terminal."""
    from patchloop.models.local_check import LocalCheck, describe_local

    if isinstance(check, LocalCheck):
        return describe_local(check)
    lines = [
        f"model spec       {check.spec}",
        f"reachable        {'yes' if check.reachable else 'NO'}",
        f"health           {check.health or '-'}",
        f"served models    {', '.join(check.served_models) or '-'}",
        f"model            {check.model or '-'}",
        f"constrained JSON {_yes_no(check.constrained_output)}"
        + (
            f" ({check.probes_valid}/{check.probes_sent} probes valid)" if check.probes_sent else ""
        ),
        f"cached tokens    {_yes_no(check.reports_cached_tokens)}"
        + (f" ({check.cached_tokens} on a repeated prompt)" if check.cached_tokens else ""),
        f"latency          {'-' if check.latency_s is None else f'{check.latency_s:.2f}s'}",
    ]
    lines += [f"probe failed     {f}" for f in check.probe_failures]
    lines += [f"error            {e}" for e in check.errors]
    return "\n".join(lines)
