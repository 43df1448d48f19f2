"""One HTTP client per backend: timeouts, retries with jittered backoff, errors mapped.

Retried: connection errors, timeouts, 408, 409, 429 and 5xx (424 at most once), waiting what
``Retry-After`` asks (capped at ``max_backoff_s``) or ``backoff_s * 2**n`` with jitter. Never
retried: 400, 401, 403, 404, 422 and malformed replies; the caller decides about those.

A request may carry a deadline (a ``time.monotonic()`` value, from the run's time budget): each
try's timeout is capped at the time left, and no retry starts that could not finish before it.
Discovery requests (the model list, health, server info) wait at most
:data:`DISCOVERY_TIMEOUT_S` per try, whatever ``request_timeout`` allows a completion.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Self

import httpx

from patchloop.config import ModelSettings
from patchloop.context.tokens import estimate_tokens
from patchloop.domain import Capabilities
from patchloop.errors import BadOutput, ModelError, ModelTimeout, ModelUnavailable, RateLimited
from patchloop.models._errors import error_for_status

__all__ = ["DISCOVERY_TIMEOUT_S", "HttpBackend", "HttpCore", "api_key", "deadline_of", "key_hint"]

#: Seconds one try of a discovery request (model list, health, server info) may take.
DISCOVERY_TIMEOUT_S = 15.0

log = logging.getLogger("patchloop.models")

Sleep = Callable[[float], None]


def api_key(
    settings: ModelSettings,
    environ: Mapping[str, str] | None = None,
    *,
    fallback: bool = True,
) -> str | None:
    """``PATCHLOOP_API_KEY``, else (when ``fallback``) the variable named by
    ``settings.api_key_env``, else ``None``.

    Only the ``openai`` kind uses the fallback: a user's OpenAI key must not be sent to a
    self-hosted server they merely named.
    """
    env = os.environ if environ is None else environ
    key = env.get("PATCHLOOP_API_KEY")
    if not key and fallback:
        key = env.get(settings.api_key_env)
    return key or None


def key_hint(settings: ModelSettings) -> str:
    """What to do about rejected credentials."""
    return f"set PATCHLOOP_API_KEY or {settings.api_key_env} to a key the server accepts"


class HttpCore:
    """JSON over HTTP with the retry policy of the module docstring."""

    def __init__(
        self,
        base_url: str,
        settings: ModelSettings,
        *,
        key: str | None = None,
        sleep: Sleep | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self._sleep: Sleep = time.sleep if sleep is None else sleep
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(settings.request_timeout, connect=min(settings.request_timeout, 10))
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        #: Retries spent over the life of this client, for run records.
        self.retries = 0
        # Status of the last failed try, per thread (a backend may serve several workers).
        self._local = threading.local()

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def url(self, path: str) -> str:
        """``path`` under the base URL; absolute URLs pass through."""
        return path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        accept: tuple[int, ...] = (),
        deadline: float | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send with retries; 2xx and statuses in ``accept`` are returned, others raised.

        ``deadline`` (``time.monotonic()``) bounds every try and the waits between them;
        ``timeout`` bounds each try below ``request_timeout`` (discovery requests).
        """
        url = self.url(path)
        attempt = 0
        while True:
            try:
                return self._once(method, url, body, accept, deadline, limit=timeout)
            except ModelError as err:
                limit = self.settings.retries
                if getattr(self._local, "status", None) == 424:
                    limit = min(1, limit)
                if not err.retryable or attempt >= limit:
                    raise
                delay = self._delay(attempt, err)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    raise  # a retry could not finish within the time budget
                attempt += 1
                self.retries += 1
                log.warning(
                    "%s %s failed (%s); retry %d in %.1fs", method, url, err, attempt, delay
                )
                self._sleep(delay)

    def _once(
        self,
        method: str,
        url: str,
        body: Any,
        accept: tuple[int, ...],
        deadline: float | None,
        *,
        limit: float | None = None,
    ) -> httpx.Response:
        self._local.status = None
        wait = (
            self.settings.request_timeout
            if limit is None
            else min(limit, self.settings.request_timeout)
        )
        per_try = wait
        budget = False
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ModelTimeout(
                    f"no time left to ask {url}: the time budget is spent",
                    hint="raise the time budget (--timeout)",
                    retryable=False,
                )
            budget = left < wait
            wait = min(wait, left)
        timeout = httpx.Timeout(wait, connect=min(wait, 10))
        try:
            resp = self._client.request(method, url, json=body, timeout=timeout)
        except httpx.ConnectTimeout as exc:
            raise ModelUnavailable(
                f"cannot connect to {url}: connect timed out",
                hint="check that the server is up and the URL is right",
                retryable=not budget,
            ) from exc
        except httpx.TimeoutException as exc:
            if budget:
                raise ModelTimeout(
                    f"{url} gave no answer within the {wait:.3g}s left of the time budget",
                    hint="raise the time budget (--timeout)",
                    retryable=False,
                ) from exc
            raise ModelTimeout(
                f"{url} gave no answer within {per_try:g}s",
                hint="raise model.request_timeout or lower max output tokens"
                if limit is None
                else "check that the server is up and not overloaded",
            ) from exc
        except httpx.TransportError as exc:
            raise ModelUnavailable(
                f"cannot reach {url}: {exc}",
                hint="check that the server is up and the URL is right",
            ) from exc
        if resp.is_success or resp.status_code in accept:
            return resp
        try:
            resp.raise_for_status()
        except httpx.HTTPStatusError as exc:
            err = error_for_status(
                resp.status_code,
                resp.text,
                dict(resp.headers),
                url=url,
                key_hint=key_hint(self.settings),
            )
            self._local.status = resp.status_code
            raise err from exc
        raise AssertionError("unreachable: raise_for_status passed a non-2xx status")

    def _delay(self, attempt: int, err: ModelError) -> float:
        cap = self.settings.max_backoff_s
        if isinstance(err, RateLimited) and err.retry_after is not None:
            return min(err.retry_after, cap)
        base = min(cap, self.settings.backoff_s * 2.0**attempt)
        return base * (0.5 + random.random() / 2)  # jitter spreads retrying clients

    def post_json(self, path: str, body: Any, *, deadline: float | None = None) -> Any:
        """POST ``body`` and return the decoded JSON reply (``BadOutput`` when it is not JSON)."""
        return decode_json(self.request("POST", path, body, deadline=deadline))

    def get_json(self, path: str, *, timeout: float | None = None) -> Any:
        """GET ``path`` (a discovery request, each try bounded by ``timeout``, default
        :data:`DISCOVERY_TIMEOUT_S`) and return the decoded JSON reply."""
        limit = DISCOVERY_TIMEOUT_S if timeout is None else timeout
        return decode_json(self.request("GET", path, timeout=limit))


def deadline_of(timeout_s: float | None) -> float | None:
    """The ``time.monotonic()`` deadline of a request's ``timeout_s``, taken now."""
    return None if timeout_s is None else time.monotonic() + timeout_s


def decode_json(resp: httpx.Response) -> Any:
    """The JSON body of a 2xx reply; ``BadOutput`` when the server sent something else."""
    try:
        return json.loads(resp.content)
    except ValueError as exc:
        head = resp.text[:200].replace("\n", " ")
        raise BadOutput(
            f"{resp.request.url} answered {resp.status_code} with a non-JSON body: {head!r}",
            hint="check that the URL points at the server's API",
        ) from exc


class HttpBackend:
    """What every HTTP model backend shares: its name, capabilities, client and retries."""

    _name: str
    _capabilities: Capabilities
    _http: HttpCore
    _window: int | None = None
    _window_asked = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"

    @property
    def name(self) -> str:
        """The spec this model was built from."""
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        """The declared capabilities, or what ``models check`` measured."""
        return self._capabilities

    @property
    def context_size(self) -> int | None:
        """Tokens the served model's context holds (prompt and reply), where the server says;
        ``None`` when it does not. Asked once, on first use."""
        if not self._window_asked:
            self._window_asked = True
            try:
                self._window = self._served_context()
            except ModelError as exc:
                log.info("%s: context size unknown (%s)", self._name, exc)
        return self._window

    def _served_context(self) -> int | None:
        """The context size the server reports; backends that can ask override this."""
        return None

    @property
    def retries(self) -> int:
        """Retries spent so far (429, 5xx, timeouts, connection errors)."""
        return self._http.retries

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count_tokens(self, text: str) -> int:
        """The documented estimate of :func:`patchloop.context.tokens.estimate_tokens`."""
        return estimate_tokens(text)
