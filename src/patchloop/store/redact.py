"""Credentials inside model URLs, kept out of run records, events and logs.

A model spec may carry credentials in its URL (``openai:https://user:TOKEN@host/v1``, or
``?api_key=TOKEN``). The process remembers every such credential it was configured with
(:func:`remember_specs`) and :func:`scrub` replaces them, wherever they appear, with ``***``.
Records and events are scrubbed as they are written; the CLI scrubs what it prints and logs.
Anything else that looks like credentials in a URL (``scheme://user:pass@``) is scrubbed from
log lines and error messages too (:func:`scrub_urls`), but not from records, whose diffs and
completions must stay byte-exact.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

__all__ = ["MASK", "remember_specs", "scrub", "scrub_urls", "spec_secrets", "url_secrets"]

MASK = "***"
#: Query parameters whose values are credentials.
_SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|sig|auth|credential", re.IGNORECASE)
#: ``scheme://userinfo@`` in free text.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"<>]+@")
#: Shorter secrets are only masked as part of the URL they appear in (``user:pw@``).
_MIN_ALONE = 4

_lock = threading.Lock()
_known: set[str] = set()


def url_secrets(url: str) -> set[str]:
    """Credential strings in ``url``: its user info (whole, and the password or token alone)
    and the values of query parameters named like keys or tokens."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    found: set[str] = set()
    netloc = parts.netloc
    if "@" in netloc:
        userinfo = netloc.rpartition("@")[0]
        found.add(userinfo + "@")
        user, _, password = userinfo.partition(":")
        piece = password or user  # ``https://TOKEN@host`` carries a token as the user
        if piece:
            found.update({piece, unquote(piece)})
    for pair in parts.query.split("&"):
        name, _, raw = pair.partition("=")
        if raw and _SECRET_PARAM.search(unquote(name)):
            found.update({raw, unquote(raw)})
    return found


def spec_secrets(specs: Iterable[str]) -> set[str]:
    """Credentials in the URLs of model specs ``KIND:TARGET[#MODEL]``."""
    found: set[str] = set()
    for spec in specs:
        _, _, target = spec.partition(":")
        if "://" in target:
            found |= url_secrets(target)
    return found


def remember_specs(specs: Iterable[str]) -> None:
    """Remember the credentials of ``specs``: :func:`scrub` masks them from now on."""
    secrets = spec_secrets(specs)
    if secrets:
        with _lock:
            _known.update(secrets)


def _masks() -> list[tuple[str, str]]:
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    pairs: list[tuple[str, str]] = []
    for secret in known:
        mask = MASK + "@" if secret.endswith("@") else MASK
        if not secret.endswith("@") and len(secret) < _MIN_ALONE:
            continue
        pairs.append((secret, mask))
        escaped = json.dumps(secret)[1:-1]
        if escaped != secret:
            pairs.append((escaped, mask))
    return pairs


def scrub(text: str) -> str:
    """``text`` with every remembered credential masked."""
    for secret, mask in _masks():
        if secret in text:
            text = text.replace(secret, mask)
    return text


def scrub_urls(text: str) -> str:
    """:func:`scrub`, and the user info of any URL in ``text`` masked (for logs and errors)."""
    return _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", scrub(text))
