"""A small typed client of the service (what ``patchloop submit`` uses).

Answers are parsed into the same pydantic models the server sends; error answers are raised
as errors of patchloop's tree (``AuthenticationFailed``, ``NotFound``, ``UsageError``, ...).
The event stream reconnects by itself after a dropped connection, resuming after the last
event it saw (``Last-Event-ID``), so a caller sees every event exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from patchloop import errors
from patchloop.errors import PatchloopError, ServiceError, TooManyRequests, UsageError
from patchloop.service.jobs import JobEvent
from patchloop.service.schemas import Accepted, RepairRequest, RunList, RunView, VerifyRequest
from patchloop.service.slo import SloReport

__all__ = ["ServiceClient"]

#: Reconnections of one event stream before giving up.
MAX_RECONNECTS = 5


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:500] or response.reason_phrase, "kind": ""}
    message = str(body.get("error", "request failed"))
    hint = body.get("hint")
    kind = getattr(errors, str(body.get("kind", "")), None)
    if response.status_code == 429:
        raise TooManyRequests(
            message, retry_after=float(response.headers.get("retry-after", "1")), hint=hint
        )
    if isinstance(kind, type) and issubclass(kind, PatchloopError) and kind is not TooManyRequests:
        try:
            raise kind(message, hint=hint)
        except TypeError:
            pass  # a class with another constructor: fall through to the generic ones
    if response.status_code in (400, 422):
        raise UsageError(message, hint=hint)
    error = ServiceError(f"{response.status_code}: {message}", hint=hint)
    error.status = response.status_code
    raise error


class ServiceClient:
    """The service at ``url``, with one team's API key."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceError(
                f"cannot reach the service at {self._http.base_url}: {exc}",
                hint="check --server and that the service runs",
            ) from exc
        _raise_for(response)
        return response

    def submit(self, request: RepairRequest, *, idempotency_key: str | None = None) -> Accepted:
        """Queue a repair."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = self._call(
            "POST", "/v1/repairs", json=request.model_dump(mode="json"), headers=headers
        )
        return Accepted.model_validate(response.json())

    def get(self, job_id: str) -> RunView:
        """A job in full."""
        return RunView.model_validate(self._call("GET", f"/v1/repairs/{job_id}").json())

    def cancel(self, job_id: str) -> RunView:
        """Cancel a job."""
        return RunView.model_validate(self._call("DELETE", f"/v1/repairs/{job_id}").json())

    def runs(self, **filters: str | int | float) -> RunList:
        """One page of the team's jobs (filters as ``GET /v1/runs`` takes them)."""
        return RunList.model_validate(self._call("GET", "/v1/runs", params=filters).json())

    def verify(self, request: VerifyRequest) -> RunView:
        """Verify a diff; waits for the verdict as long as the server does."""
        response = self._call("POST", "/v1/verify", json=request.model_dump(mode="json"))
        if response.status_code == 202:
            return self.wait(Accepted.model_validate(response.json()).id)
        return RunView.model_validate(response.json())

    def slo(self) -> SloReport:
        """The service-level objectives."""
        return SloReport.model_validate(self._call("GET", "/v1/slo").json())

    def metrics(self) -> str:
        """The Prometheus exposition text."""
        return self._call("GET", "/metrics").text

    def events(self, job_id: str, *, after: int = 0) -> Iterator[JobEvent]:
        """The job's events after id ``after``, as they happen, until ``job.end`` (or the
        one ``job.pruned`` of a job whose log was pruned)."""
        last = after
        drops = 0
        while True:
            try:
                for event in self._stream(job_id, last):
                    last = event.id
                    drops = 0
                    yield event
                    if event.kind == "job.end":
                        return
                return  # the server ended the stream: the job was over already
            except httpx.TransportError as exc:
                drops += 1
                if drops > MAX_RECONNECTS:
                    raise ServiceError(
                        f"the event stream of {job_id} keeps dropping: {exc}",
                        hint="check the connection to the service",
                    ) from exc

    def _stream(self, job_id: str, last: int) -> Iterator[JobEvent]:
        headers = {"Last-Event-ID": str(last)}
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        with self._http.stream(
            "GET", f"/v1/repairs/{job_id}/events", headers=headers, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            data: list[str] = []
            for line in response.iter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line == "" and data:
                    yield JobEvent.model_validate(json.loads("\n".join(data)))
                    data = []

    def wait(self, job_id: str) -> RunView:
        """Follow the job to its end and return it."""
        for _ in self.events(job_id):
            pass
        return self.get(job_id)
