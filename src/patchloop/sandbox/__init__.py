"""Sandboxes: throw-away copies of a snapshot and commands run on them under limits.

``local`` (rlimits and process groups) is always available. ``get_sandbox`` picks the
implementation from :class:`~patchloop.config.SandboxSettings`; ``kind="auto"`` is where the
isolated bubblewrap sandbox will be preferred once it is registered as ``bwrap``.
"""

from __future__ import annotations

import logging
import shutil

from patchloop.config import SandboxSettings
from patchloop.protocols import Sandbox
from patchloop.registry import Registry
from patchloop.sandbox._fs import TEMP_PREFIX, make_temp_dir, remove_tree, scratch_root
from patchloop.sandbox._limits import limits_from_settings

__all__ = [
    "SANDBOXES",
    "TEMP_PREFIX",
    "get_sandbox",
    "limits_from_settings",
    "make_temp_dir",
    "remove_tree",
    "scratch_root",
]

log = logging.getLogger("patchloop.sandbox")

SANDBOXES: Registry[type[Sandbox]] = Registry(
    "sandbox",
    {"local": "patchloop.sandbox.local:LocalSandbox"},
)


def _auto_kind() -> str:
    if "bwrap" in SANDBOXES.names() and shutil.which("bwrap"):
        return "bwrap"
    log.warning(
        "bubblewrap is not available: tests run in the local sandbox, without network or "
        "file-system isolation (install the 'bubblewrap' package to isolate them)"
    )
    return "local"


def get_sandbox(settings: SandboxSettings) -> Sandbox:
    """The sandbox ``settings.kind`` names: ``auto``, a registered name, or a dotted path."""
    kind = _auto_kind() if settings.kind == "auto" else settings.kind
    factory = SANDBOXES.resolve(kind)
    return factory()
