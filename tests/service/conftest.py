"""A real ``patchloop serve`` on 127.0.0.1, started by the tests, and repositories for it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from patchloop.service.keys import keys_for
from patchloop.service.settings import ServiceSettings
from tests.conftest import git, make_repo
from tests.service._postgres import PostgresServer, find_bin

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
#: Generous bound on anything that should happen (a server start, a repair); never asserted on.
PATIENCE_S = 240.0

SLOW_LIB = """\
def double(x):
    return x + x + 1
"""
SLOW_TEST = """\
import time

from slowlib import double


def test_double():
    time.sleep(2.5)
    assert double(2) == 4


def test_double_zero():
    assert double(0) == 0
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def quickstart(root: Path, name: str = "qs") -> Path:
    """A committed copy of the bundled example under ``root``."""
    dest = root / name
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".patchloop", "__pycache__"))
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "initial")
    return dest


def slow_repo(root: Path, name: str = "slow") -> Path:
    """A repository whose failing test takes seconds: time to cancel or kill mid-run."""
    return make_repo(
        root / name,
        {
            "slowlib.py": SLOW_LIB,
            "test_slow.py": SLOW_TEST,
            "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
        },
    )


class Server:
    """``python -m patchloop serve`` in a subprocess, with its settings file and log."""

    def __init__(self, base: Path, roots: Path, *, workers: int = 2, **service: Any) -> None:
        self.base = base
        self.data_dir = base / "data"
        self.roots = roots
        self.workers = workers
        self.service = service
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "server.log"
        self.clients: list[httpx.Client] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        settings: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            "allowed_roots": [str(self.roots)],
            "git_schemes": ["file"],
            "workers": self.workers,
            "port": self.port,
            "lease_s": 3.0,
            "heartbeat_s": 0.3,
            "cancel_grace_s": 3.0,
            **self.service,
        }
        lines = ["[service]"]
        tables = {k: v for k, v in settings.items() if isinstance(v, dict)}
        for key, value in settings.items():
            if key not in tables:
                lines.append(f"{key} = {json.dumps(value)}")
        for name, table in tables.items():
            lines.append(f"[service.{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        path = self.base / "serve.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> Server:
        config = self.write_config()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PATCHLOOP_")},
            "XDG_CONFIG_HOME": str(self.base / "xdg"),
            "XDG_CACHE_HOME": str(self.base / "cache"),
            "PATCHLOOP_TESTS__FLAKE_RUNS": "1",
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "patchloop", "serve", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"the server did not get ready: {self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; waits for the exit."""
        self.close_clients()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=PATIENCE_S)

    def kill(self) -> None:
        """SIGKILL of the API process."""
        self.close_clients()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=PATIENCE_S)

    def key(self, team: str, *scopes: str) -> str:
        """A new key, in the database the server's keys are in (its queue's)."""
        settings = ServiceSettings(data_dir=self.data_dir, queue_url=self.service.get("queue_url"))
        store = keys_for(settings)
        try:
            return store.add(team, scopes or ("repo:*",)).token
        finally:
            store.close()

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=PATIENCE_S)
        self.clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()

    def db(self) -> Any:
        """The job store, queried with ``?`` placeholders whichever database holds it."""
        url = self.service.get("queue_url")
        if url is not None:
            return PgShell(url)
        conn = sqlite3.connect(self.data_dir / "service.db", timeout=30)
        conn.row_factory = sqlite3.Row
        return conn


class PgShell:
    """Enough of ``sqlite3.Connection`` for the tests' queries, over PostgreSQL."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s").encode(), args)

    def __enter__(self) -> PgShell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def events(client: httpx.Client, job_id: str, last_id: int | None = None) -> list[dict[str, Any]]:
    """Every event of the stream until it ends (after ``job.end``)."""
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    found = []
    with client.stream("GET", f"/v1/repairs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                if "data" in block:
                    event = json.loads(block["data"])
                    assert int(block["id"]) == event["id"]
                    found.append(event)
                block = {}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            block[field] = value
    return found


def first_event(client: httpx.Client, job_id: str, kind: str) -> dict[str, Any]:
    """Read the stream until an event of ``kind``; the stream is closed after it."""
    with client.stream("GET", f"/v1/repairs/{job_id}/events") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                event: dict[str, Any] = json.loads(line[6:])
                if event["kind"] == kind:
                    return event
                assert event["kind"] != "job.end", f"ended before {kind}: {event}"
    raise AssertionError(f"no {kind} event")


def finish(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """Follow the job to its end and return its full view."""
    events(client, job_id)
    response = client.get(f"/v1/repairs/{job_id}")
    assert response.status_code == 200
    view: dict[str, Any] = response.json()
    return view


def submit(client: httpx.Client, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = client.post("/v1/repairs", json=body, headers=headers)
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    path = tmp_path / "roots"
    path.mkdir()
    return path


@pytest.fixture
def server_factory(tmp_path: Path, roots: Path) -> Iterator[Any]:
    """Start servers on demand; all are stopped at the end of the test."""
    started: list[Server] = []

    def start(name: str = "s1", **kwargs: Any) -> Server:
        base = tmp_path / name
        base.mkdir(exist_ok=True)
        data = kwargs.pop("data_dir", None)
        server = Server(base, roots, **kwargs)
        if data is not None:
            server.data_dir = data
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (skipped, off CI, without the binaries)."""
    pytest.importorskip("psycopg", reason="psycopg is missing: pip install -e '.[service]'")
    bin_dir = find_bin()
    if bin_dir is None:
        reason = "PostgreSQL is not installed (initdb, pg_ctl): scripts/setup all installs it"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's server."""
    return postgres.new_database()
