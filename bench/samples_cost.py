"""What K samples of one prompt cost in the embedded engine, against one sample.

For K in ``--k``, a fresh model is asked for K samples (the first greedy, the others hot) of a
repair-sized prompt, ``--tokens`` tokens each; reported per K: prompt tokens evaluated (the
prompt is shared, so it should stay one prompt's worth), wall seconds, and both as ratios to
K = 1. Prints JSON.

    .venv/bin/python bench/samples_cost.py --model qwen2.5-coder-1.5b --k 1 --k 4 --k 8
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--k", type=int, action="append", required=True)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--prompt-chars", type=int, default=6000)
    args = parser.parse_args()
    from patchloop.config import ModelSettings
    from patchloop.domain import CompletionRequest, Message, Sampling
    from patchloop.models.catalog import resolve_model_file
    from patchloop.models.llamacpp import LlamaCppModel

    path = resolve_model_file(args.model)
    text = (ROOT / "src" / "patchloop" / "session.py").read_text()[: args.prompt_chars]
    request = CompletionRequest(
        messages=(Message(role="user", content=f"Review this code:\n{text}"),),
        sampling=Sampling(max_tokens=args.tokens),
    )
    rows = []
    for k in args.k:
        with LlamaCppModel(path, n_ctx=8192, settings=ModelSettings(prefix_cache_mb=0)) as model:
            samplings = [Sampling(max_tokens=args.tokens, temperature=0.0)] + [
                Sampling(max_tokens=args.tokens, temperature=0.8, seed=s) for s in range(1, k)
            ]
            before = model.evaluated_tokens
            t0 = time.perf_counter()
            replies = model.complete_many(request, samplings)
            wall = time.perf_counter() - t0
            rows.append(
                {
                    "k": k,
                    "prompt_tokens": replies[0].usage.prompt_tokens,
                    "prompt_tokens_evaluated": model.evaluated_tokens - before,
                    "generated_tokens": sum(r.usage.completion_tokens for r in replies),
                    "prefill_s": replies[0].prefill_s,
                    "wall_s": round(wall, 2),
                }
            )
    base = rows[0]
    for row in rows:
        row["evaluated_ratio"] = round(
            int(row["prompt_tokens_evaluated"]) / int(base["prompt_tokens_evaluated"]), 2
        )
        row["wall_ratio"] = round(float(row["wall_s"]) / float(base["wall_s"]), 2)
        row["wall_over_one_prefill"] = round(float(row["wall_s"]) / float(base["prefill_s"]), 2)
    print(
        json.dumps({"model": args.model, "tokens_per_sample": args.tokens, "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
