"""Sandbox and verification speed: copies, one-test verification, whole suite. Prints JSON.

    .venv/bin/python bench/sandbox_bench.py [--reps N] [--sandbox bwrap|local]

Measures, with medians over ``--reps`` interleaved repetitions (after warm-ups):

- ``copy``: create and remove a workspace copy of a generated 1,000-file repository;
- ``one_test``: verifying one test of ``examples/quickstart`` as the repair loop does (fresh
  workspace, patch written, runner run) against ``python -m pytest NODEID`` run directly on a
  copy of the same tree;
- ``suite``: the whole quickstart suite through the runner against ``python -m pytest`` directly.

Targets: copy <= 100 ms; one test <= 0.5x the direct run; whole suite <= 1.15x direct.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from patchloop.domain import Limits, TestSelection
from patchloop.protocols import Sandbox
from patchloop.sandbox.bwrap import BwrapSandbox, bwrap_works
from patchloop.sandbox.local import LocalSandbox
from patchloop.verify import PytestRunner

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"
NODEID = "tests/test_invoice.py::test_discount_applies_from_one_hundred"
PATCHED = "invoicing/discounts.py"


def _make_repo(root: Path, files: int = 1000) -> Path:
    rng = random.Random(0)
    repo = root / "repo1000"
    for i in range(files):
        package = repo / f"pkg{i // 50:02d}"
        package.mkdir(parents=True, exist_ok=True)
        if i % 10 == 0:
            body = "".join(f"def f{j}(x):\n    return x + {j}\n\n" for j in range(60))
            (package / f"mod{i:04d}.py").write_text(body)
        else:
            (package / f"data{i:04d}.txt").write_bytes(rng.randbytes(rng.randint(2000, 20000)))
    return repo


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=4) if len(ordered) >= 4 else [ordered[0], 0, ordered[-1]]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p25_ms": round(q[0] * 1000, 1),
        "p75_ms": round(q[2] * 1000, 1),
        "n": len(ordered),
    }


def _timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _interleaved(
    cases: dict[str, Callable[[], object]], reps: int, warmup: int = 2
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(warmup):
        for func in cases.values():
            func()
    rng = random.Random(1)
    for _ in range(reps):
        order = list(cases)
        rng.shuffle(order)
        for name in order:
            samples[name].append(_timed(cases[name]))
    return samples


def _direct(tree: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args],
        cwd=tree,
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"direct pytest failed: {done.stdout.decode()[-2000:]}")


def _verify(sandbox: Sandbox, runner: PytestRunner, nodeids: tuple[str, ...]) -> None:
    """One verification as the loop does it: fresh copy, patch written, tests run."""
    with sandbox.workspace(QUICKSTART) as ws:
        target = ws / PATCHED
        target.write_text(target.read_text() + "\n# candidate\n")
        report = runner.run(ws, TestSelection(nodeids=nodeids))
    if report.status != "ok" or not report.outcomes:
        raise SystemExit(f"sandboxed run failed: {report.process}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--sandbox", choices=["bwrap", "local"], default=None)
    args = parser.parse_args()
    kind = args.sandbox or ("bwrap" if bwrap_works() is None else "local")
    sandbox: BwrapSandbox | LocalSandbox = BwrapSandbox() if kind == "bwrap" else LocalSandbox()
    limits = Limits(wall_s=120, processes=512, memory_bytes=4 << 30)
    warm = PytestRunner(sandbox, "python -m pytest", limits=limits)
    cold = PytestRunner(sandbox, "python -m pytest", limits=limits, warm=False)
    result: dict[str, object] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "sandbox": kind,
            "uid": os.geteuid(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "reps": args.reps,
    }
    with tempfile.TemporaryDirectory(prefix="patchloop-bench-") as scratch:
        repo = _make_repo(Path(scratch))

        def copy() -> None:
            with sandbox.workspace(repo):
                pass

        copies = _interleaved({"copy": copy}, args.reps * 2)["copy"]
        result["copy"] = {"files": 1000, **_stats(copies), "target_ms": 100}

        direct_tree = Path(scratch) / "direct" / "quickstart"
        shutil.copytree(QUICKSTART, direct_tree)
        one = (NODEID,)
        samples = _interleaved(
            {
                "direct": lambda: _direct(direct_tree, NODEID),
                "sandboxed": lambda: _verify(sandbox, warm, one),
                "sandboxed_cold": lambda: _verify(sandbox, cold, one),
            },
            args.reps,
        )
        direct, sandboxed = _stats(samples["direct"]), _stats(samples["sandboxed"])
        result["one_test"] = {
            "nodeid": NODEID,
            "direct": direct,
            "sandboxed": sandboxed,
            "sandboxed_cold": _stats(samples["sandboxed_cold"]),
            "ratio": round(sandboxed["median_ms"] / direct["median_ms"], 3),
            "target_ratio": 0.5,
        }
        samples = _interleaved(
            {
                "direct": lambda: _direct(direct_tree),
                "sandboxed": lambda: _verify(sandbox, warm, ()),
                "sandboxed_cold": lambda: _verify(sandbox, cold, ()),
            },
            args.reps,
        )
        direct, sandboxed = _stats(samples["direct"]), _stats(samples["sandboxed"])
        result["suite"] = {
            "direct": direct,
            "sandboxed": sandboxed,
            "sandboxed_cold": _stats(samples["sandboxed_cold"]),
            "ratio": round(sandboxed["median_ms"] / direct["median_ms"], 3),
            "target_ratio": 1.15,
        }
    sandbox.close()
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    copy_ok = result["copy"]["median_ms"] <= 100  # type: ignore[index]
    result["targets_met"] = {
        "copy": copy_ok,
        "one_test": result["one_test"]["ratio"] <= 0.5,  # type: ignore[index]
        "suite": result["suite"]["ratio"] <= 1.15,  # type: ignore[index]
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
