"""Loop overhead per iteration: time outside the model call and the test run.

Runs the repair loop on a copy of examples/quickstart with a scripted model that answers
``--iterations - 1`` wrong fixes and then the right one, and prints JSON:

    overhead_ms: per-iteration time spent in the loop itself (prompt building, parsing,
                 dry-run apply, guard, record writing), i.e. attempt wall time minus the model
                 call minus the sandboxed verification; median, p90 and max
    overhead_share: total overhead / total wall time of the run

Targets: at most 50 ms per iteration and under 5% of wall time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patchloop.config import Config, FixerSettings
from patchloop.domain import Event, Task
from patchloop.loop import repair
from patchloop.models.scripted import ScriptedModel

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "quickstart"

GOOD = """invoicing/discounts.py
<<<<<<< SEARCH
    if subtotal > THRESHOLD:
=======
    if subtotal >= THRESHOLD:
>>>>>>> REPLACE
"""
WRONG = GOOD.replace(">= THRESHOLD", "> THRESHOLD - 1")


def _repo(base: Path) -> Path:
    repo = base / "quickstart"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".patchloop", "__pycache__"))
    env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"}
    env |= {"GIT_COMMITTER_EMAIL": "b@b", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="patchloop-bench-"))
    try:
        repo = _repo(base)
        replies = [WRONG] * (args.iterations - 1) + [GOOD]
        model = ScriptedModel(replies, name="scripted:bench")
        config = Config(
            models=("scripted:bench",),
            max_iterations=args.iterations,
            fixers=FixerSettings(enabled=False),
        )
        marks: list[float] = []

        def on_event(event: Event) -> None:
            if event.kind in ("tier.start", "attempt.end"):
                marks.append(event.t)

        started = time.perf_counter()
        record = repair(Task(repo=repo), config, models=[model], on_event=on_event)
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(base, ignore_errors=True)
    overheads = []
    for attempt, start, end in zip(record.attempts, marks, marks[1:], strict=False):
        outside = (end - start) - attempt.timings.get("model", 0.0) - attempt.sandbox_s
        overheads.append(outside * 1000)
    loop_wall = (marks[-1] - marks[0]) if len(marks) > 1 else 0.0
    ordered = sorted(overheads)
    print(
        json.dumps(
            {
                "benchmark": "loop_overhead",
                "status": record.status,
                "iterations": len(record.attempts),
                "overhead_ms": {
                    "median": round(statistics.median(ordered), 2),
                    "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
                    "max": round(ordered[-1], 2),
                },
                "overhead_share": round(sum(overheads) / 1000 / wall, 4),
                "overhead_share_of_loop": round(sum(overheads) / 1000 / loop_wall, 4),
                "wall_s": round(wall, 3),
                "sandbox_s": record.sandbox_s,
                "targets": {"overhead_ms_max": 50, "overhead_share_max": 0.05},
                "python": sys.version.split()[0],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
