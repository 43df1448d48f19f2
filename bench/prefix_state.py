"""Time to first token with and without a saved prefix state, across separate runs.

The prompt of a repair is built as ``patchloop fix`` builds it (rules, format, the repository's
files, task, failures) for one task of a suite; each measurement loads the model afresh in a
child process, as a new ``fix`` or eval task would, and times the first request: cold (empty
prefix store), warm (the store filled by the cold run), and warm for another task text on the
same repository (only the task and failures differ). Prints JSON.

    .venv/bin/python bench/prefix_state.py --model qwen2.5-coder-1.5b
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT.parent / "shared" / "bench" / "quixbugs.jsonl"

CHILD = r"""
import json, sys, time
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.context.layout import ContextFile, PromptLayout
from patchloop.domain import CompletionRequest, Sampling
from patchloop.edits import get_format
path, files_json, task = sys.argv[1], sys.argv[2], sys.argv[3]
files = json.loads(open(files_json).read())
model = LlamaCppModel(path, n_ctx=8192)
fmt = get_format("whole")
layout = PromptLayout(instructions=fmt.instructions(),
                      files=[ContextFile(p, t) for p, t in sorted(files.items())],
                      task=task, failures="FAILED test_x.py::test_x\n  assert 1 == 2",
                      count_tokens=model.count_tokens, max_tokens=6000)
request = CompletionRequest(messages=layout.messages([]), sampling=Sampling(max_tokens=1),
                            cache_points=layout.cache_points())
t0 = time.perf_counter()
reply = model.complete(request)
ttft = time.perf_counter() - t0
store = model.prefix_store
print(json.dumps({"ttft_s": round(ttft, 3), "prompt_tokens": reply.usage.prompt_tokens,
                  "cached_tokens": reply.usage.cached_tokens,
                  "loads": store.loads if store else 0, "saves": store.saves if store else 0}))
"""


def run(path: str, files: Path, task: str, store: Path) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin", "PATCHLOOP_KV_CACHE": str(store), "HOME": str(store)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, path, str(files), task],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="GGUF path or catalog name")
    parser.add_argument("--task", default="quixbugs/depth_first_search")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    from patchloop.models.catalog import resolve_model_file

    path = str(resolve_model_file(args.model))
    task = next(
        json.loads(line)
        for line in SUITE.read_text().splitlines()
        if json.loads(line)["id"] == args.task
    )
    results: dict[str, list[dict[str, object]]] = {"cold": [], "warm": [], "warm_other_task": []}
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp) / "files.json"
        files.write_text(json.dumps(task["files"]))
        for rep in range(args.reps):
            store = Path(tmp) / f"kv{rep}"
            results["cold"].append(run(path, files, task["task"], store))
            results["warm"].append(run(path, files, task["task"], store))
            results["warm_other_task"].append(
                run(path, files, "Another report about the same code.", store)
            )
    best = {k: min(float(str(r["ttft_s"])) for r in v) for k, v in results.items()}
    print(
        json.dumps(
            {
                "model": args.model,
                "task": args.task,
                "runs": results,
                "best_ttft_s": best,
                "speedup_warm": round(best["cold"] / best["warm"], 2),
                "speedup_other_task": round(best["cold"] / best["warm_other_task"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
