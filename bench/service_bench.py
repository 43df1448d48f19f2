"""Service overhead and throughput against the CLI, and a load check; prints JSON.

    overhead   repairs of examples/quickstart one at a time, through a real ``patchloop serve``
               and through ``patchloop fix``: per job, submit latency, submit to first event,
               submit to the end as the client sees it, result fetch; the service's overhead is
               what the client waits beyond the library's own run time (``record.wall_s``),
               as a share of the job's wall time (target: at most 5%). Then the same number of
               jobs queued at once on ``--workers`` workers against as many ``fix`` processes
               in parallel: throughput of each.
    load       ``--jobs`` repairs queued at once (200 for the release check) on ``--workers``
               workers: every job finishes, each started and ended exactly once.

Run with ``.venv/bin/python bench/service_bench.py overhead --jobs 5`` or
``... load --jobs 200``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "quickstart"
PATIENCE_S = 3600.0


def _repo(base: Path) -> Path:
    repo = base / "roots" / "quickstart"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".patchloop", "__pycache__"))
    env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"}
    env |= {"GIT_COMMITTER_EMAIL": "b@b", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    return repo


def _env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHLOOP_")}
    return env | {"XDG_CONFIG_HOME": str(base / "xdg")}


class _Server:
    def __init__(self, base: Path, workers: int) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = base / "data"
        config = base / "serve.toml"
        config.write_text(
            "[service]\n"
            f'data_dir = "{self.data}"\nallowed_roots = ["{base / "roots"}"]\n'
            f"workers = {workers}\nport = {self.port}\nteam_concurrency = {workers}\n"
            "[service.limits]\nrate_per_minute = 100000\nburst = 100000\n"
        )
        self.log = (base / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "patchloop", "serve", "--config", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=_env(base),
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        from patchloop.service.keys import KeyStore

        token = KeyStore(self.data / "service.db").add("bench", ["repo:*"]).token
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=PATIENCE_S
        )

    def submit(self, repo: Path, task: str) -> tuple[str, float]:
        t0 = time.perf_counter()
        response = self.client.post(
            "/v1/repairs", json={"repository": {"path": str(repo)}, "task": task}
        )
        response.raise_for_status()
        return response.json()["id"], time.perf_counter() - t0

    def follow(self, job_id: str, t0: float) -> dict[str, float]:
        """Seconds from ``t0`` to the first event after acceptance and to ``job.end``."""
        marks: dict[str, float] = {}
        with self.client.stream("GET", f"/v1/repairs/{job_id}/events") as response:
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                kind = json.loads(line[6:])["kind"]
                if kind != "job.queued" and "first_event_s" not in marks:
                    marks["first_event_s"] = time.perf_counter() - t0
                if kind == "job.end":
                    marks["end_s"] = time.perf_counter() - t0
                    break
        return marks

    def stop(self) -> None:
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        self.log.close()


def _cli_fix(repo: Path, base: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "patchloop", "fix", "--repo", str(repo), "--json"],
        capture_output=True,
        text=True,
        env=_env(base),
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"patchloop fix failed: {proc.stderr}")
    return wall


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 4),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 4),
        "max": round(ordered[-1], 4),
    }


def overhead(base: Path, jobs: int, workers: int) -> dict[str, Any]:
    repo = _repo(base)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: _cli_fix(repo, base), range(jobs)))
    cli_batch = time.perf_counter() - t0

    server = _Server(base, workers)
    cli_walls = []
    try:
        rows = []
        for i in range(jobs):
            # Alternate with the CLI so that both see the same load on a shared machine.
            cli_walls.append(_cli_fix(repo, base))
            t0 = time.perf_counter()
            job_id, submit_s = server.submit(repo, f"sequential {i}")
            marks = server.follow(job_id, t0)
            f0 = time.perf_counter()
            view = server.client.get(f"/v1/repairs/{job_id}").json()
            fetch_s = time.perf_counter() - f0
            assert view["verdict"] == "verified", view
            job_wall = marks["end_s"] + fetch_s
            rows.append(
                {
                    "submit_s": submit_s,
                    "first_event_s": marks["first_event_s"],
                    "fetch_s": fetch_s,
                    "job_wall_s": job_wall,
                    "job_process_s": view["process_s"],
                    "run_wall_s": view["record"]["wall_s"],
                    "overhead_s": job_wall - view["process_s"],
                }
            )
        t0 = time.perf_counter()
        ids = [server.submit(repo, f"batch {i}")[0] for i in range(jobs)]
        for job_id in ids:
            server.follow(job_id, t0)
        service_batch = time.perf_counter() - t0
    finally:
        server.stop()
    total_wall = sum(r["job_wall_s"] for r in rows)
    total_overhead = sum(r["overhead_s"] for r in rows)
    return {
        "jobs": jobs,
        "workers": workers,
        "service": {k: _stats([r[k] for r in rows]) for k in rows[0]},
        "cli_wall_s": _stats(cli_walls),
        "overhead_share": round(total_overhead / total_wall, 4),
        "overhead_vs_cli": round(
            (statistics.median(r["job_wall_s"] for r in rows) - statistics.median(cli_walls))
            / statistics.median(cli_walls),
            4,
        ),
        "throughput_per_min": {
            "service": round(60 * jobs / service_batch, 2),
            "cli_parallel": round(60 * jobs / cli_batch, 2),
        },
    }


def load(base: Path, jobs: int, workers: int) -> dict[str, Any]:
    repo = _repo(base)
    server = _Server(base, workers)
    try:
        t0 = time.perf_counter()
        ids = [server.submit(repo, f"load {i}")[0] for i in range(jobs)]
        submitted = time.perf_counter() - t0
        for job_id in ids:
            server.follow(job_id, t0)
        elapsed = time.perf_counter() - t0
        verdicts: dict[str, int] = {}
        for job_id in ids:
            verdict = server.client.get(f"/v1/repairs/{job_id}").json()["verdict"]
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
    finally:
        server.stop()
    with sqlite3.connect(server.data / "service.db") as db:
        starts = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT job_id) FROM events WHERE kind = 'job.start'"
        ).fetchone()
        ends = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT job_id) FROM events WHERE kind = 'job.end'"
        ).fetchone()
        rows = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    return {
        "jobs": jobs,
        "workers": workers,
        "distinct_ids": len(set(ids)),
        "jobs_in_store": rows,
        "verdicts": verdicts,
        "starts": {"events": starts[0], "jobs": starts[1]},
        "ends": {"events": ends[0], "jobs": ends[1]},
        "all_once": starts == (jobs, jobs) and ends == (jobs, jobs) and rows == jobs,
        "submit_all_s": round(submitted, 3),
        "elapsed_s": round(elapsed, 2),
        "throughput_per_min": round(60 * jobs / elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["overhead", "load"])
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="patchloop-service-bench-"))
    try:
        run = overhead if args.mode == "overhead" else load
        print(json.dumps(run(base, args.jobs, args.workers), indent=2))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
