"""The capability cache: what ``patchloop models check`` measured, kept for later runs.

One JSON file, ``$XDG_CACHE_HOME/patchloop/capabilities.json`` (``~/.cache/...`` without the
variable), maps ``kind|target|model`` of a spec to its latest :class:`ModelCheck`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from patchloop.domain import Capabilities
from patchloop.errors import UsageError
from patchloop.models.spec import ModelSpec, parse_spec

__all__ = ["ModelCheck", "capabilities_path", "load_capabilities", "record_check"]

log = logging.getLogger("patchloop.models")

_VERSION = 1


class ModelCheck(BaseModel):
    """What a check of one model spec found."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    spec: str
    kind: str
    target: str
    model: str | None = None
    """The served model the checks ran against (resolved when the spec named none)."""
    reachable: bool
    health: str = ""
    """``ok``, or what the health route answered."""
    served_models: tuple[str, ...] = ()
    constrained_output: bool | None = None
    """Every probe reply was strict JSON valid under the probe schema; ``None``: not measured."""
    probes_sent: int = 0
    probes_valid: int = 0
    probe_failures: tuple[str, ...] = ()
    """Why answered probes failed validation."""
    reports_cached_tokens: bool | None = None
    """A repeated prompt came back with cached tokens > 0; ``None``: not measured."""
    cached_tokens: int = 0
    """Cached tokens reported for the repeated prompt."""
    latency_s: float | None = None
    """Median latency of the probe requests."""
    capabilities: Capabilities = Capabilities()
    """The backend's capabilities corrected by what was measured; later runs use these."""
    errors: tuple[str, ...] = ()
    checked_at: str = ""

    @property
    def ok(self) -> bool:
        """Reachable and without errors."""
        return self.reachable and not self.errors


def capabilities_path() -> Path:
    """Default cache file, under ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "patchloop" / "capabilities.json"


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable capability cache %s: %s", path, exc)
        return {}
    checks = data.get("checks") if isinstance(data, dict) else None
    return checks if isinstance(checks, dict) else {}


def load_capabilities(spec: str | ModelSpec, path: Path | None = None) -> ModelCheck | None:
    """The recorded check of ``spec``, or ``None`` when it was never checked."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    entry = _read(path or capabilities_path()).get(parsed.key)
    if entry is None:
        return None
    try:
        return ModelCheck.model_validate(entry)
    except ValidationError as exc:
        log.warning("ignoring a malformed capability entry for %s: %s", parsed, exc)
        return None


def record_check(check: ModelCheck, path: Path | None = None) -> Path:
    """Store ``check`` under its spec's key (atomically) and return the file's path."""
    path = path or capabilities_path()
    checks = _read(path)
    checks[parse_spec(check.spec).key] = check.model_dump(mode="json")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".capabilities-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"version": _VERSION, "checks": checks}, out, indent=2, sort_keys=True)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot write the capability cache {path}: {exc.strerror}",
            hint="set XDG_CACHE_HOME to a writable directory",
        ) from exc
    return path
