"""``patchloop models check llamacpp:...``: a short real generation in a child process.

An embedded model runs native code in patchloop's own process, so a broken llama.cpp build
(a SIGSEGV in a CPU kernel, an illegal instruction) would take the caller down with it. The
check loads the model and generates a few tokens in a child (``python -m
patchloop.models._check_child``); the child reports each stage on stdout as a JSON line, so a
crash is reported with its signal, the stage it hit, the backend and a hint.

Measured: load time, prefill tokens/s (a one-token reply to a tiny chat), generation tokens/s
(the same chat again: the prompt comes from the KV cache, so the time is the new tokens'),
cached tokens on that repeat, and whether a JSON-schema contract is enforced.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from patchloop.config import ModelSettings
from patchloop.models._check_child import ChildRequest
from patchloop.models._crash import crash_hint, describe_signal
from patchloop.models.capcache import ModelCheck
from patchloop.models.llamacpp import CAPABILITIES
from patchloop.models.spec import ModelSpec

__all__ = ["LocalCheck", "check_local", "describe_local"]

_WHERE = {
    "start": "before loading the model",
    "load": "while loading the model",
    "prefill": "on the first decode (prefill)",
    "generate": "while generating",
    "constrained": "while generating under a grammar",
}
_LINE_LIMIT = 1 << 16
_STDERR_LINES = 12


class LocalCheck(ModelCheck):
    """A check of an embedded model: what the child measured, or how it died."""

    path: str = ""
    backend: str = ""
    stage: str = ""
    """The last stage the child reached: load, prefill, generate, constrained, done."""
    load_s: float | None = None
    prompt_tokens: int = 0
    prefill_tok_s: float | None = None
    generated_tokens: int = 0
    generation_tok_s: float | None = None
    reply: str = ""
    signal: str | None = None
    """``SIGSEGV`` etc. when the child was killed by a signal."""
    hint: str | None = None
    stderr_tail: tuple[str, ...] = ()


def backend_version() -> str:
    """``llama-cpp-python X.Y.Z``, read without importing (and so loading) the library."""
    try:
        return f"llama-cpp-python {metadata.version('llama_cpp_python')}"
    except metadata.PackageNotFoundError:
        return "llama-cpp-python (not installed)"


def check_local(
    spec: ModelSpec,
    settings: ModelSettings,
    *,
    cache_dir: Path | None = None,
    command: Sequence[str] | None = None,
    timeout_s: float | None = None,
) -> LocalCheck:
    """Run the check of ``spec`` in a child process and interpret how it ended.

    A catalog name is resolved in ``cache_dir`` (default: the model cache); the child loads
    the resolved file. ``command`` replaces the child's command line (tests). Raises
    :class:`UsageError` before starting a child when the spec names a model that is not
    pulled.
    """
    from patchloop.models.catalog import resolve_model_file

    path = resolve_model_file(spec.target, cache_dir=cache_dir)
    head = LocalCheck(
        spec=str(spec),
        kind=spec.kind,
        target=spec.target,
        model=spec.model,
        reachable=False,
        path=str(path),
        backend=backend_version(),
        checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    argv = list(command or [sys.executable, "-m", "patchloop.models._check_child"])
    limit = timeout_s or settings.request_timeout + 120
    loaded = spec.model_copy(update={"target": str(path)})
    request = ChildRequest(spec=loaded, settings=settings).model_dump_json()
    stages: list[dict[str, object]] = []
    tail: deque[str] = deque(maxlen=_STDERR_LINES)
    try:
        proc = subprocess.run(
            argv,
            input=request,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stages = _stages(_text(exc.stdout))
        return _failed(head, stages, f"no answer within {limit:.0f}s", None, ())
    except OSError as exc:
        return _failed(head, [], f"cannot start the check process: {exc}", None, ())
    stages = _stages(proc.stdout)
    tail.extend(line for line in proc.stderr.splitlines() if line.strip())
    final = stages[-1] if stages else {}
    if proc.returncode == 0 and final.get("stage") == "done":
        return _measured(head, stages)
    if proc.returncode < 0:
        name = describe_signal(-proc.returncode)
        return _failed(
            head, stages, f"the embedded engine crashed with {name}", -proc.returncode, tail
        )
    reason = str(final.get("error") or f"the check process exited with {proc.returncode}")
    hint = final.get("hint")
    return _failed(head, stages, reason, None, tail).model_copy(
        update={"hint": str(hint) if hint else None}
    )


def _text(data: str | bytes | None) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data or ""


def _stages(stdout: str) -> list[dict[str, object]]:
    stages = []
    for line in stdout.splitlines():
        if not line.startswith("{") or len(line) > _LINE_LIMIT:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("stage"), str):
            stages.append(value)
    return stages


def _failed(
    head: LocalCheck,
    stages: list[dict[str, object]],
    reason: str,
    signum: int | None,
    tail: Sequence[str],
) -> LocalCheck:
    reached = [str(s["stage"]) for s in stages if s["stage"] != "failed"]
    stage = reached[-1] if reached else "start"
    where = _WHERE.get(stage, f"at stage {stage!r}")
    message = f"{reason} {where} ({head.backend}, model {head.path})"
    partial = _measured(head, stages).model_copy(update={"reachable": False})
    return partial.model_copy(
        update={
            "stage": stage,
            "signal": describe_signal(signum).split(" ")[0] if signum else None,
            "errors": (message,),
            "hint": crash_hint(signum, stage) if signum else None,
            "stderr_tail": tuple(tail),
        }
    )


def _number(stage: dict[str, object], key: str) -> float | None:
    value = stage.get(key)
    return float(value) if isinstance(value, int | float) else None


def _measured(head: LocalCheck, stages: list[dict[str, object]]) -> LocalCheck:
    found: dict[str, object] = {}
    for stage in stages:
        found.update(stage)
    constrained = found.get("constrained")
    cached = int(_number(found, "cached_tokens") or 0)
    generated = int(_number(found, "generated_tokens") or 0)
    declared = CAPABILITIES  # the embedded backend's, corrected by what was measured
    capabilities = declared.model_copy(
        update={
            "constrained_output": declared.constrained_output and constrained is not False,
            "grammar": declared.grammar and constrained is not False,
            "reports_cached_tokens": cached > 0
            if "cached_tokens" in found
            else declared.reports_cached_tokens,
        }
    )
    return head.model_copy(
        update={
            "reachable": found.get("stage") == "done",
            "stage": str(found.get("stage", "")),
            "health": f"ok: loaded and generated {generated} tokens in a child process"
            if found.get("stage") == "done"
            else "failed",
            "served_models": (str(found["model"]),) if "model" in found else (),
            "model": str(found.get("model") or head.model or "") or None,
            "load_s": _number(found, "load_s"),
            "prompt_tokens": int(_number(found, "prompt_tokens") or 0),
            "prefill_tok_s": _number(found, "prefill_tok_s"),
            "generated_tokens": generated,
            "generation_tok_s": _number(found, "generation_tok_s"),
            "latency_s": _number(found, "generation_s"),
            "reply": str(found.get("reply", "")),
            "constrained_output": constrained if isinstance(constrained, bool) else None,
            "probes_sent": 1 if isinstance(constrained, bool) else 0,
            "probes_valid": 1 if constrained is True else 0,
            "reports_cached_tokens": (cached > 0) if "cached_tokens" in found else None,
            "cached_tokens": cached,
            "capabilities": capabilities,
        }
    )


def describe_local(check: LocalCheck) -> str:
    """The check as lines of text for a terminal."""

    def fmt(value: float | None, unit: str) -> str:
        return "-" if value is None else f"{value:.2f}{unit}" if unit == "s" else f"{value}{unit}"

    lines = [
        f"model spec       {check.spec}",
        f"file             {check.path}",
        f"backend          {check.backend}",
        f"runs             {'yes' if check.reachable else 'NO'}"
        + (f" (crashed: {check.signal})" if check.signal else ""),
        f"model            {check.model or '-'}",
        f"load             {fmt(check.load_s, 's')}",
        f"prefill          {fmt(check.prefill_tok_s, ' tok/s')}"
        + (f" ({check.prompt_tokens} prompt tokens)" if check.prompt_tokens else ""),
        f"generation       {fmt(check.generation_tok_s, ' tok/s')}"
        + (f" ({check.generated_tokens} tokens)" if check.generated_tokens else ""),
        f"cached tokens    {'-' if check.reports_cached_tokens is None else check.cached_tokens}"
        + (" (on the repeated chat)" if check.reports_cached_tokens else ""),
        "constrained JSON "
        + {True: "yes", False: "NO", None: "not measured"}[check.constrained_output],
    ]
    if check.reply:
        lines.append(f"reply            {check.reply!r}")
    lines += [f"error            {e}" for e in check.errors]
    if check.hint:
        lines.append(f"hint             {check.hint}")
    lines += [f"child stderr     {line}" for line in check.stderr_tail]
    return "\n".join(lines)
