"""Sandboxes: throw-away copies of a snapshot and commands run on them under limits.

``bwrap`` (bubblewrap namespaces, an unprivileged uid, tmpfs copies) isolates; ``local``
(rlimits and process groups only) is always available. ``get_sandbox`` picks the implementation
from :class:`~patchloop.config.SandboxSettings`; ``kind="auto"`` takes ``bwrap`` when bubblewrap
can start a sandbox on this machine, else ``local`` with a warning that says why.
"""

from __future__ import annotations

import logging

from patchloop.config import SandboxSettings
from patchloop.errors import UnknownComponent
from patchloop.protocols import Sandbox
from patchloop.registry import Registry
from patchloop.sandbox._fs import (
    TEMP_PREFIX,
    make_temp_dir,
    owned_temp_dir,
    read_untrusted,
    remove_tree,
    scratch_root,
)
from patchloop.sandbox._limits import limits_from_settings

__all__ = [
    "SANDBOXES",
    "TEMP_PREFIX",
    "get_sandbox",
    "limits_from_settings",
    "make_temp_dir",
    "owned_temp_dir",
    "read_untrusted",
    "remove_tree",
    "sandbox_kind",
    "scratch_root",
]

log = logging.getLogger("patchloop.sandbox")

SANDBOXES: Registry[type[Sandbox]] = Registry(
    "sandbox",
    {
        "local": "patchloop.sandbox.local:LocalSandbox",
        "bwrap": "patchloop.sandbox.bwrap:BwrapSandbox",
    },
)


def _auto_kind() -> str:
    from patchloop.sandbox.bwrap import bwrap_works

    why = bwrap_works()
    if why is None:
        return "bwrap"
    log.warning(
        "%s: tests run in the local sandbox, without network or file-system isolation "
        "(install the 'bubblewrap' package and allow unprivileged user namespaces to isolate "
        "them, or set sandbox.kind = 'local' to silence this)",
        why,
    )
    return "local"


def sandbox_kind(settings: SandboxSettings) -> str:
    """The sandbox ``settings.kind`` stands for: ``auto`` resolved to ``bwrap`` or ``local``
    (warning when it falls back), any other kind as given. What a run record keeps."""
    return _auto_kind() if settings.kind == "auto" else settings.kind


def get_sandbox(settings: SandboxSettings) -> Sandbox:
    """The sandbox ``settings.kind`` names: ``auto``, a registered name, or a dotted path."""
    kind = sandbox_kind(settings)
    try:
        factory = SANDBOXES.resolve(kind)
    except UnknownComponent as exc:
        raise UnknownComponent(
            exc.message, hint=f"valid names: auto, {', '.join(SANDBOXES.names())}"
        ) from None
    return factory()
