"""Model specs: ``KIND:TARGET[#MODEL]`` parsed into a typed :class:`ModelSpec`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from patchloop.errors import UsageError

__all__ = ["EXAMPLE_SPEC", "ModelSpec", "parse_spec"]

#: Shown in every error about a spec, so the user sees the shape that works.
EXAMPLE_SPEC = "openai:http://127.0.0.1:8000/v1#qwen2.5-coder-7b"


class ModelSpec(BaseModel):
    """A parsed model spec: which backend, where, and (optionally) which served model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    """Backend kind (``openai``, ``vllm``, ``tgi``, ``scripted``, ...) or a dotted path."""
    target: str
    """Base URL of a server, or a file path for ``scripted``."""
    model: str | None = None
    """Served model name; ``None`` asks the server (OpenAI-compatible kinds)."""

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" + (f"#{self.model}" if self.model else "")

    @property
    def key(self) -> str:
        """Stable identity for caches: ``kind|target|model``."""
        return f"{self.kind}|{self.target}|{self.model or ''}"


def parse_spec(spec: str) -> ModelSpec:
    """Parse ``KIND:TARGET[#MODEL]``.

    Only the first ``:`` separates the kind, because targets are URLs that contain ``:``; the
    first ``#`` after it starts the model name (model names may contain ``:`` and ``/``).
    """
    text = spec.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.strip()
    if not sep or not kind:
        raise UsageError(
            f"model spec {spec!r} is not KIND:TARGET[#MODEL]",
            hint=f"for example {EXAMPLE_SPEC!r} or 'scripted:replies.jsonl'",
        )
    target, _, model = rest.partition("#")
    target = target.strip()
    if kind in ("http", "https"):
        raise UsageError(
            f"model spec {spec!r} has no kind",
            hint=f"put the server kind first, e.g. 'openai:{text}' ({EXAMPLE_SPEC!r})",
        )
    if not target:
        raise UsageError(
            f"model spec {spec!r} has no target after {kind + ':'!r}",
            hint=f"give a server URL or a file, e.g. {EXAMPLE_SPEC!r}",
        )
    return ModelSpec(kind=kind, target=target.rstrip("/") or target, model=model.strip() or None)
