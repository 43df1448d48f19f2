"""Prompt-prefix reuse per iteration, with the embedded llama.cpp engine (extra ``local``).

Runs the repair loop with a tiny random-weight GGUF model (built on the fly; it fixes nothing,
so every iteration appends an attempt and its feedback) on a copy of examples/quickstart and on
a generated multi-file project, and prints JSON per iteration:

    prompt_tokens       tokens of the prompt (the engine's tokenizer)
    reused_tokens       prompt tokens the engine did not evaluate again (KV cache)
    reuse               reused_tokens / prompt_tokens
    shared_prefix_chars characters identical to the start of the previous prompt

Target: from the second iteration on, at least 90% of prompt tokens reused on both.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from patchloop.config import Config, FixerSettings, ModelSettings
from patchloop.domain import Task
from patchloop.loop import repair
from patchloop.models.llamacpp import LlamaCppModel
from patchloop.models.tiny import build_tiny_model

ROOT = Path(__file__).resolve().parent.parent
GIT_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@b",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@b",
    "PATH": "/usr/bin:/bin",
}

MODULES = {
    "shop/__init__.py": '"""A small shop."""\n',
    "shop/catalog.py": (
        '"""Products and prices."""\n\nPRICES = {"apple": 30, "pear": 45, "plum": 25}\n\n\n'
        "def price(name: str) -> int:\n    return PRICES[name]\n"
    ),
    "shop/cart.py": (
        '"""A cart of products."""\n\nfrom shop.catalog import price\n\n\n'
        "class Cart:\n    def __init__(self) -> None:\n        self.items: list[str] = []\n\n"
        "    def add(self, name: str, count: int = 1) -> None:\n"
        "        self.items.extend([name] * count)\n\n"
        "    def total(self) -> int:\n        return sum(price(n) for n in self.items)\n"
    ),
    "shop/shipping.py": (
        '"""Shipping costs: free from 100 cents."""\n\n\n'
        "def shipping(total: int) -> int:\n    return 0 if total > 100 else 15\n"
    ),
    "shop/checkout.py": (
        '"""Checkout: cart total plus shipping."""\n\nfrom shop.cart import Cart\n'
        "from shop.shipping import shipping\n\n\n"
        "def amount_due(cart: Cart) -> int:\n    total = cart.total()\n"
        "    return total + shipping(total)\n"
    ),
    "tests/test_checkout.py": (
        "from shop.cart import Cart\nfrom shop.checkout import amount_due\n\n\n"
        "def test_small_order_pays_shipping():\n    cart = Cart()\n    cart.add('plum')\n"
        "    assert amount_due(cart) == 40\n\n\n"
        "def test_free_shipping_from_one_hundred():\n    cart = Cart()\n"
        "    cart.add('plum', 4)\n    assert amount_due(cart) == 100\n"
    ),
    "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-p no:cacheprovider"\n',
}


def _commit(repo: Path) -> Path:
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=GIT_ENV)
    return repo


def quickstart(base: Path) -> Path:
    """A committed copy of examples/quickstart."""
    repo = base / "quickstart"
    src = ROOT / "examples" / "quickstart"
    shutil.copytree(src, repo, ignore=shutil.ignore_patterns(".patchloop", "__pycache__"))
    return _commit(repo)


def multi_file(base: Path) -> Path:
    """A committed five-module project whose failing test crosses three of them."""
    repo = base / "shop"
    for rel, text in MODULES.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return _commit(repo)


def measure(model: LlamaCppModel, repo: Path, iterations: int) -> dict[str, Any]:
    """Run the loop and report reuse per iteration."""
    config = Config(
        models=(model.name,),
        max_iterations=iterations,
        fixers=FixerSettings(enabled=False),
        model=ModelSettings(temperature=1.0, max_output_tokens=48),
    )
    record = repair(Task(repo=repo), config, models=[model])
    rows = []
    for attempt in record.attempts:
        usage = attempt.usage
        rows.append(
            {
                "iteration": attempt.iteration,
                "status": attempt.status,
                "prompt_tokens": usage.prompt_tokens,
                "reused_tokens": usage.cached_tokens,
                "reuse": round(usage.cached_tokens / max(1, usage.prompt_tokens), 4),
                "shared_prefix_chars": attempt.prefix_shared_chars,
                "prompt_chars": attempt.prompt_chars,
            }
        )
    later = [r["reuse"] for r in rows[1:]]
    return {
        "iterations": rows,
        "min_reuse_from_second": min(later) if later else None,
        "meets_target": bool(later) and min(later) >= 0.9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=4)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="patchloop-bench-"))
    try:
        tiny = build_tiny_model(base / "model", seed=0)
        results = {}
        for name, make in (("quickstart", quickstart), ("multi_file", multi_file)):
            with LlamaCppModel(tiny.model, seed=0, n_ctx=16384, name="llamacpp:tiny") as model:
                results[name] = measure(model, make(base), args.iterations)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps({"benchmark": "prefix_reuse", "target": 0.9, **results}, indent=2))


if __name__ == "__main__":
    main()
