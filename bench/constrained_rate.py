"""Well-formed rate of edit replies with and without constrained decoding, per format. Prints JSON.

The model is the tiny random-weight GGUF built by :mod:`patchloop.models.tiny` and served by the
embedded ``llamacpp`` backend, so the numbers measure the constraint machinery, not a model's
skill: a random model is almost never well formed on its own. Each sample is a reply at
temperature 1 (seed = sample index) to the format's own instructions plus a task; a reply is
well formed when the format's ``parse`` accepts it.

Per format: ``constrained`` (the format's own contract; for ``json`` its GBNF grammar),
``unconstrained``, and for ``json`` also ``constrained_schema_only`` (the envelope schema alone,
turned into a strict grammar by the backend). JSON rows also count ``strict_json``: replies
that pass strict ``json.loads``.

    python bench/constrained_rate.py --samples 50
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from importlib.metadata import version
from typing import Any

from patchloop.domain import CompletionRequest, Message, OutputContract, Sampling
from patchloop.edits import ENVELOPE_SCHEMA, get_format
from patchloop.errors import EditError
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.models.tiny import build_tiny_model

TASK = (
    "tests/test_cart.py::test_total fails: AssertionError: assert -3.5 == 0.\n"
    "src/cart.py:\n"
    "def total(items, discount=0.0):\n"
    "    return round(sum(i.price for i in items) * (1 - discount), 2)\n"
)


def _strict_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _measure(
    model: LlamaCppModel,
    fmt_name: str,
    contract: OutputContract | None,
    *,
    samples: int,
    max_tokens: int,
) -> dict[str, Any]:
    fmt = get_format(fmt_name)
    messages = (
        Message(role="system", content=fmt.instructions()),
        Message(role="user", content=TASK),
    )
    well_formed = strict = truncated = tokens = 0
    started = time.perf_counter()
    for seed in range(samples):
        request = CompletionRequest(
            messages=messages,
            contract=contract,
            sampling=Sampling(temperature=1.0, max_tokens=max_tokens, seed=seed),
        )
        reply = model.complete(request)
        tokens += reply.usage.completion_tokens
        truncated += reply.finish_reason == "length"
        strict += _strict_json(reply.text)
        try:
            fmt.parse(reply.text)
        except EditError:
            continue
        well_formed += 1
    row: dict[str, Any] = {
        "well_formed": well_formed,
        "rate": round(well_formed / samples, 3),
        "truncated": truncated,
        "mean_completion_tokens": round(tokens / samples, 1),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if fmt_name == "json":
        row["strict_json"] = strict
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=50, help="replies per row (default 50)")
    parser.add_argument("--max-tokens", type=int, default=1500, help="cap per reply")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tiny model's weights")
    args = parser.parse_args(argv)

    # Per format: the contracts to compare; None is the unconstrained baseline.
    rows: dict[str, dict[str, OutputContract | None]] = {
        "json": {
            "constrained": get_format("json").contract(),
            "constrained_schema_only": OutputContract(name="json", json_schema=ENVELOPE_SCHEMA),
            "unconstrained": None,
        },
        "search-replace": {
            "constrained": get_format("search-replace").contract(),
            "unconstrained": None,
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        built = build_tiny_model(tmp, seed=args.seed, adapters=0)
        with LlamaCppModel(built.model, n_ctx=8192) as model:
            report: dict[str, Any] = {
                "model": f"tiny random-weight GGUF (seed {args.seed})",
                "llama_cpp_python": version("llama-cpp-python"),
                "samples": args.samples,
                "temperature": 1.0,
                "max_tokens": args.max_tokens,
                "formats": {},
            }
            for fmt_name, variants in rows.items():
                report["formats"][fmt_name] = {
                    label: _measure(
                        model,
                        fmt_name,
                        contract,
                        samples=args.samples,
                        max_tokens=args.max_tokens,
                    )
                    for label, contract in variants.items()
                }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
