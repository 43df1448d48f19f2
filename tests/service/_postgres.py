"""A throwaway PostgreSQL server for the tests: ``initdb`` into a temporary directory, the
server on a Unix socket there (no TCP port), removed at the end.

``initdb`` refuses to run as root; as root the server runs as ``nobody``, which owns the
directory. The binaries are looked up under ``/usr/lib/postgresql/*/bin`` and on ``PATH``
(``PATCHLOOP_PG_BIN`` names another directory); ``scripts/setup all`` installs them.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["PostgresServer", "find_bin"]

#: The user the server runs as when the tests run as root.
RUN_AS = "nobody"
_names = itertools.count(1)


def find_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    named = os.environ.get("PATCHLOOP_PG_BIN")
    candidates = [Path(named)] if named else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


class PostgresServer:
    """One server, its data directory and socket in a private temporary directory."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        # Short path: a Unix socket path is limited to about 100 characters.
        self.dir = Path(tempfile.mkdtemp(prefix="patchloop-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._user = RUN_AS if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", self._user, "--"] if self._user is not None else []
        done = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr}{done.stdout}\n{log}")

    def start(self) -> PostgresServer:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "patchloop",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = f"-k {self.dir} -c listen_addresses='' -F -c max_connections=300"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
            "-w", "start",
        )  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        """A URL of ``database`` over the server's socket."""
        return f"postgresql://patchloop@/{database}?host={self.dir}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and remove everything it wrote."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop")  # fmt: skip
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def all_at_once(action: Callable[[], object], count: int) -> list[BaseException]:
    """Run ``action`` in ``count`` threads released together; the errors they raised."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def one() -> None:
        start.wait()
        try:
            action()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors
