"""What drafting from the context (prompt-lookup decoding) saves the embedded engine.

For the first ``--tasks`` tasks of a task suite, the model is asked for a whole-file rewrite of
the task's code file under the whole-file contract, greedy, once with ``draft_tokens = 0``
(one token per step) and once with each ``--draft`` value. Reported per setting: completion
tokens, decode seconds, tokens per second, decode batches, and how many replies are the same
text as with drafting off (drafts must not change what is picked). Prints JSON.

    .venv/bin/python bench/draft_decode.py --model qwen2.5-coder-1.5b --draft 8 --draft 16
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT.parent / "shared" / "bench" / "quixbugs.jsonl"


def _tasks(path: Path, count: int) -> list[tuple[str, str, str]]:
    """``(id, code path, code text)`` of the first ``count`` tasks: their non-test file."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines()[:count]:
        task = json.loads(line)
        code = next(p for p in task["files"] if not p.startswith("test_") and p != "conftest.py")
        out.append((task["id"], code, task["files"][code]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--suite", type=Path, default=SUITE)
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--draft", type=int, action="append", required=True)
    parser.add_argument("--max-tokens", type=int, default=700)
    args = parser.parse_args()
    from patchloop.config import ModelSettings
    from patchloop.domain import CompletionRequest, EditScope, Message, Sampling, ScopeFile
    from patchloop.edits import get_format
    from patchloop.models.catalog import resolve_model_file
    from patchloop.models.llamacpp import LlamaCppModel

    fmt = get_format("whole")
    settings = [0, *args.draft]
    rows: dict[int, dict[str, list[float]]] = {d: {} for d in settings}
    texts: dict[int, list[str]] = {d: [] for d in settings}
    path = resolve_model_file(args.model)
    with LlamaCppModel(path, n_ctx=8192, settings=ModelSettings(prefix_cache_mb=0)) as model:
        engine = model._engine
        for _, code, text in _tasks(args.suite, args.tasks):
            scope = EditScope(files=(ScopeFile(path=code, text=text),))
            request = CompletionRequest(
                messages=(
                    Message(role="system", content=fmt.instructions()),
                    Message(
                        role="user",
                        content=f"## {code}\n```python\n{text}```\n\nThe tests of {code} "
                        "fail. Reply with the corrected file.",
                    ),
                ),
                sampling=Sampling(max_tokens=args.max_tokens, temperature=0.0),
                contract=fmt.contract(scope),
            )
            for draft in settings:
                engine.draft_tokens = draft
                before = engine.batches
                reply = model.complete(request)
                row = rows[draft]
                row.setdefault("tokens", []).append(reply.usage.completion_tokens)
                row.setdefault("decode_s", []).append(reply.decode_s or 0.0)
                row.setdefault("batches", []).append(engine.batches - before)
                texts[draft].append(reply.text)
    report = []
    for draft in settings:
        row = rows[draft]
        tokens, seconds = sum(row["tokens"]), sum(row["decode_s"])
        report.append(
            {
                "draft_tokens": draft,
                "completion_tokens": int(tokens),
                "decode_s": round(seconds, 2),
                "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
                "batches": int(sum(row["batches"])),
                "median_decode_s": round(statistics.median(row["decode_s"]), 2),
                "same_text_as_off": sum(
                    a == b for a, b in zip(texts[0], texts[draft], strict=True)
                ),
                "replies": len(texts[draft]),
            }
        )
    base = report[0]["decode_s"]
    for item in report:
        item["speedup"] = round(base / item["decode_s"], 2) if item["decode_s"] else None
    print(json.dumps({"model": args.model, "tasks": args.tasks, "settings": report}, indent=2))


if __name__ == "__main__":
    main()
