"""Worker processes of ``patchloop serve``: started with the API, restarted when they die.

Workers run in sessions of their own (a Ctrl-C on the terminal reaches the API, which stops
them in order) and get ``SIGTERM`` when the API process goes away, even when it is killed.
The same loop prunes the job log (:mod:`.retention`): at start-up, before the server reports
ready, then hourly.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from patchloop.service._procs import die_with_parent, kill_tree
from patchloop.service.queue import JobQueue
from patchloop.service.retention import Retention
from patchloop.service.settings import ServiceSettings

__all__ = ["Supervisor"]

log = logging.getLogger("patchloop.service")

#: Seconds between looks at the workers.
TICK_S = 0.5
#: Seconds to wait before restarting a worker that died.
RESTART_S = 1.0


def _worker_preexec() -> None:
    die_with_parent()


class Supervisor:
    """Keeps ``settings.workers`` worker processes running, and ``queue``'s job log pruned."""

    def __init__(self, settings: ServiceSettings, queue: JobQueue) -> None:
        self.settings = settings
        self.queue = queue
        self.retention = Retention(queue, settings.keep_events_days)
        self.settings_file = settings.data_dir / "settings.json"
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def alive(self) -> int:
        """Worker processes running now."""
        return sum(1 for p in list(self.workers.values()) if p.poll() is None)

    def start(self) -> None:
        """Start the workers and the thread that watches them."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Owner-only: a queue_url may carry the database password.
        fd = os.open(self.settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(self.settings.model_dump_json())
        # Workers are started from this thread: their parent-death signal follows it.
        self._thread = threading.Thread(target=self._run, name="patchloop-supervisor", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)

    def _spawn(self, index: int) -> None:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "patchloop.service.worker",
                "--settings",
                str(self.settings_file),
                "--name",
                f"w{index}",
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C on the terminal reaches the API only
            preexec_fn=_worker_preexec,  # noqa: PLW1509 - one prctl call, no locks
        )
        self.workers[index] = proc
        log.info("worker w%d started (pid %d)", index, proc.pid)

    def _run(self) -> None:
        for index in range(1, self.settings.workers + 1):
            self._spawn(index)
        self.retention.tick(time.time())
        self._ready.set()
        died: dict[int, float] = {}
        while not self._stop.wait(TICK_S):
            self.retention.tick(time.time())
            now = time.monotonic()
            for index, proc in list(self.workers.items()):
                if proc.poll() is None:
                    continue
                if index not in died:
                    log.warning("worker w%d exited with %s", index, proc.returncode)
                    died[index] = now
                elif now - died[index] >= RESTART_S:
                    del died[index]
                    self._spawn(index)
        self._shutdown()
        self.queue.close()  # this thread's connection

    def _shutdown(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + self.settings.cancel_grace_s + 10.0
        for proc in self.workers.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid)
                proc.wait()

    def stop(self) -> None:
        """Stop the workers (their running jobs go back to the queue) and wait for them."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def worker_pids(self) -> dict[str, int]:
        """Worker name to pid, for the alive ones."""
        return {f"w{i}": p.pid for i, p in self.workers.items() if p.poll() is None}


def settings_path(data_dir: Path) -> Path:
    """Where the supervisor writes the settings its workers read."""
    return data_dir / "settings.json"
