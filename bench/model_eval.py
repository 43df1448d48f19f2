"""How well the model tier repairs, with real models: ``patchloop eval`` per configuration.

For each model, suite and configuration (model alone or the full cascade; output contract on
or off) this runs ``patchloop eval`` with a budget of ``--max-iterations`` model attempts per
task, keeps every run record, and prints one JSON object: resolved, resolved identical to the
reference fix, wall time per task and per model attempt (median, p90), prompt, completion and
cached tokens, the share of well-formed replies, and prefill and generation speed (tokens per
second, from the embedded engine's own timings in the records).

    .venv/bin/python bench/model_eval.py --model llamacpp:qwen2.5-coder-1.5b \\
        --suite quixbugs --suite humanevalfix --mode alone --constrain on --out /tmp/me

``--samples K`` asks for K candidates per model call (the tests choose; reported: candidates
generated and unique, model seconds per resolved task); ``--sampling temperature`` takes the
samples after the first at higher temperatures instead of from branches of the first reply
(the default); ``--filter GLOB`` runs only matching tasks instead of the suite's list.

Suites: ``quixbugs`` (all 40 tasks of ../shared/bench/quixbugs.jsonl) and ``humanevalfix``
(the 40 tasks listed in bench/data/humanevalfix_40.txt, chosen by a seeded shuffle). Results
are appended and resumed: run it again with the same ``--out`` to finish an interrupted run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "bench"
SUITES = {"quixbugs": SHARED / "quixbugs.jsonl", "humanevalfix": SHARED / "humanevalfix.jsonl"}
LISTS = {"humanevalfix": ROOT / "bench" / "data" / "humanevalfix_40.txt"}


def listed(suite: str) -> list[str]:
    path = LISTS.get(suite)
    if path is None:
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()[:1] not in "#"]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[k], 2)


def records(folder: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(folder.glob("*/runs/*/record.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


def forks(folder: Path) -> dict[str, int]:
    """Replies decoded again from a fork (embedded engine), from each attempt's completion."""
    replies = total = 0
    for path in folder.glob("*/runs/*/attempts/*/completion.json"):
        try:
            taken = int(json.loads(path.read_text()).get("forks", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        replies += taken > 0
        total += taken
    return {"replies_forked": replies, "forks": total}


def run_eval(args: argparse.Namespace, spec: str, suite: str, out: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "patchloop",
        "eval",
        str(SUITES[suite]),
        "--model",
        spec,
        "--max-iterations",
        str(args.max_iterations),
        "--timeout",
        str(args.timeout),
        "--workers",
        str(args.workers),
        "--edit-format",
        args.edit_format,
        "--samples",
        str(args.samples),
        "--sampling",
        args.sampling,
        "--records",
        str(out / "records"),
        "--out",
        str(out / "results.jsonl"),
        "--summary",
        str(out / "summary.json"),
        "--resume",
    ]
    if args.mode == "alone":
        command.append("--no-fixers")
    for task in args.filter or listed(suite):
        command += ["--filter", task]
    env = {
        **os.environ,
        "PATCHLOOP_MODEL__CONSTRAIN": "true" if args.constrain == "on" else "false",
    }
    out.mkdir(parents=True, exist_ok=True)
    with (out / "eval.log").open("a") as log:
        subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=log, check=False)


def measure(out: Path, spec: str) -> dict[str, Any]:
    results = {}
    results_file = out / "results.jsonl"
    if results_file.is_file():
        for line in results_file.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            results[row["id"]] = row
    rows = list(results.values())
    resolved = [r for r in rows if r.get("resolved")]
    by_model = [r for r in resolved if r.get("fixed_by") not in (None, "fixers")]
    walls = [float(r.get("wall_s", 0.0)) for r in rows]
    formed = [w for r in rows for w in r.get("well_formed", []) if w.get("model") != "fixers"]
    well = sum(int(w.get("well_formed", 0)) for w in formed)
    replies = sum(int(w.get("total", 0)) for w in formed)
    attempts = [
        a
        for rec in records(out / "records")
        for a in rec.get("attempts", [])
        if a.get("tier") not in (None, "fixers")
    ]
    per_attempt = [
        float(a["timings"]["model"]) for a in attempts if "model" in a.get("timings", {})
    ]
    # Samples decoded together share their call's prefill and decode times: count them once,
    # with the call (the attempt that carries the model time).
    calls = [a for a in attempts if "model" in a.get("timings", {})]
    prefill_s = sum(float(a["timings"].get("prefill", 0.0)) for a in calls)
    decode_s = sum(float(a["timings"].get("decode", 0.0)) for a in calls)
    usage = {
        k: sum(int(a.get("usage", {}).get(k, 0)) for a in attempts)
        for k in ("prompt_tokens", "completion_tokens", "cached_tokens")
    }
    evaluated = usage["prompt_tokens"] - usage["cached_tokens"]
    model_s = sum(per_attempt)
    unique = [a for a in attempts if a.get("same_as") is None and a.get("status") != "repeated"]
    statuses: dict[str, int] = {}
    for a in attempts:
        statuses[a.get("status", "?")] = statuses.get(a.get("status", "?"), 0) + 1
    return {
        "model": spec,
        "tasks": len(rows),
        "resolved": len(resolved),
        "resolved_by_model": len(by_model),
        "resolved_by_fixers": len(resolved) - len(by_model),
        "same_as_reference": sum(1 for r in resolved if r.get("matches_reference")),
        "errors": sum(1 for r in rows if r.get("error")),
        "wall_per_task_s": {"median": percentile(walls, 0.5), "p90": percentile(walls, 0.9)},
        "model_attempts": len(attempts),
        "wall_per_model_attempt_s": {
            "median": percentile(per_attempt, 0.5),
            "p90": percentile(per_attempt, 0.9),
        },
        "attempt_status": statuses,
        "candidates": {"generated": len(attempts), "unique": len(unique)},
        "forks": forks(out / "records"),
        "model_s": round(model_s, 1),
        "model_s_per_resolved": round(model_s / len(by_model), 1) if by_model else None,
        "tokens": usage,
        "well_formed_rate": round(well / replies, 3) if replies else None,
        "prefill_tok_s": round(evaluated / prefill_s, 1) if prefill_s else None,
        "generation_tok_s": round(usage["completion_tokens"] / decode_s, 1) if decode_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), required=True)
    parser.add_argument("--mode", choices=["alone", "cascade"], default="alone")
    parser.add_argument("--constrain", choices=["on", "off"], default="on")
    parser.add_argument("--edit-format", default="auto")
    parser.add_argument("--max-iterations", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--samples", type=int, default=1, help="Candidates per model call.")
    parser.add_argument(
        "--sampling",
        choices=["branches", "temperature"],
        default="branches",
        help="Where samples after the first come from.",
    )
    parser.add_argument(
        "--filter", action="append", help="Only tasks matching this glob (replaces the list)."
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report-only", action="store_true", help="Only read earlier results.")
    args = parser.parse_args()
    report = []
    for spec in args.model:
        for suite in args.suite:
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.split(":", 1)[-1])
            out = args.out / f"{name}-{suite}-{args.mode}-{args.constrain}-{args.edit_format}"
            if args.samples > 1:
                out = out.with_name(f"{out.name}-k{args.samples}-{args.sampling}")
            if not args.report_only:
                run_eval(args, spec, suite, out)
            entry = {
                "suite": suite,
                "mode": args.mode,
                "constrain": args.constrain,
                "samples": args.samples,
                "sampling": args.sampling,
            }
            entry.update(measure(out, spec))
            report.append(entry)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
