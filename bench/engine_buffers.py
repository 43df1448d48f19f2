"""Weight repacking (llama.cpp's extra buffer types) on and off: speed, and whether it crashes.

Each measurement loads the model in a child process (a crash there is reported by its signal,
not fatal here), evaluates a fixed prompt and generates a fixed number of tokens, alternating
on and off ``--reps`` times; the best of each is reported, so other load on the machine biases
both alike. Prints JSON with the CPU's AMX flag and the decision ``auto`` takes on it.

    .venv/bin/python bench/engine_buffers.py --model qwen2.5-coder-0.5b --model qwen2.5-coder-1.5b
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.config import ModelSettings
path, extra = sys.argv[1], sys.argv[2]
prompt_tokens, new_tokens = int(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
settings = ModelSettings(extra_buffers=extra, prefix_cache_mb=0)
model = LlamaCppModel(path, n_ctx=4096, settings=settings)
load = time.perf_counter() - t0
engine = model._engine
text = open(sys.argv[5]).read()
tokens = engine.tokenize(text, special=False)[:prompt_tokens]
t0 = time.perf_counter(); engine._prefill(tokens, None); prefill = time.perf_counter() - t0
t0 = time.perf_counter()
for token in tokens[:new_tokens]:
    engine.llm.eval([token])
generate = time.perf_counter() - t0
print(json.dumps({"load_s": load, "prefill_tok_s": len(tokens) / prefill,
                  "generation_tok_s": new_tokens / generate,
                  "extra_buffers": engine.extra_buffers}))
"""


def measure(path: str, extra: str, args: argparse.Namespace) -> dict[str, object]:
    source = Path(__file__).resolve().parents[1] / "src" / "patchloop" / "session.py"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            path,
            extra,
            str(args.prompt_tokens),
            str(args.tokens),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode < 0:
        return {"crashed": signal.Signals(-done.returncode).name}
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, help="GGUF path or name")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=1024)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()
    from patchloop.models._cpu import has_amx
    from patchloop.models.catalog import resolve_model_file

    report: dict[str, object] = {"amx": has_amx(), "auto_turns_them": "off" if has_amx() else "on"}
    for name in args.model:
        path = str(resolve_model_file(name))
        runs: dict[str, list[dict[str, object]]] = {"on": [], "off": []}
        for _ in range(args.reps):
            for extra in ("on", "off"):
                runs[extra].append(measure(path, extra, args))
        entry: dict[str, object] = {}
        for extra, results in runs.items():
            good = [r for r in results if "prefill_tok_s" in r]
            entry[extra] = {
                "prefill_tok_s": round(max(float(r["prefill_tok_s"]) for r in good), 1)
                if good
                else None,
                "generation_tok_s": round(max(float(r["generation_tok_s"]) for r in good), 1)
                if good
                else None,
                "failures": [r for r in results if "prefill_tok_s" not in r],
            }
        report[name] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
