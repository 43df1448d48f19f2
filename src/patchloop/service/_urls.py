"""Queue URLs: which schemes name a database, and how to show one without its secrets."""

from __future__ import annotations

from urllib.parse import urlsplit

from patchloop.store.redact import MASK, scrub_urls

__all__ = ["POSTGRES_SCHEMES", "display_url", "masked", "scheme_of"]

POSTGRES_SCHEMES = ("postgresql", "postgres")


def scheme_of(url: str) -> str:
    """The scheme of ``url``, lower case; empty without ``://``."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


def display_url(url: str) -> str:
    """``url`` without its password and query (which may carry one): fit for logs and errors."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return f"{scheme_of(url) or 'an unreadable'} URL (not shown)"
    user = f"{parts.username}@" if parts.username else ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def masked(text: str, url: str) -> str:
    """``text`` with the password of ``url`` and the user info of any URL masked."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, MASK)
    return scrub_urls(text)
