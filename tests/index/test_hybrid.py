"""Lexical and repo-map retrieval, fusion bookkeeping, and a light import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from patchloop.context.tokens import estimate_tokens
from patchloop.errors import RepositoryError, UsageError
from patchloop.index import (
    HybridRetriever,
    build_index,
    lexical_retriever,
    open_retriever,
    retrievers,
)
from patchloop.index.repomap import RepoGraph, mentions_in
from patchloop.index.store import Store
from patchloop.index.tokenize import tokenize
from tests.conftest import make_repo
from tests.index.conftest import commit_all


def test_lexical_search_splits_identifiers(shop_repo: Path, store_dir: Path) -> None:
    retriever = lexical_retriever(shop_repo, store_dir=store_dir)
    hits = retriever.search("InvoiceTax after a discount", k=3)
    assert hits[0].path == "invoice.py"
    assert hits[0].symbol == "invoice_tax"
    assert hits[0].start_line == 4
    assert hits[0].end_line == 6
    assert "def invoice_tax" in hits[0].text
    assert hits[0].ranks["bm25"] == 1
    assert all(set(h.ranks) <= {"bm25", "repomap"} for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    retriever.close()


def test_repo_map_signal_follows_mentioned_identifiers(shop_repo: Path, store_dir: Path) -> None:
    retriever = lexical_retriever(shop_repo, store_dir=store_dir)
    hits = retriever.search("why does apply_discount go wrong", k=5)
    top = hits[0]
    assert (top.path, top.symbol) == ("shop.py", "apply_discount")
    assert top.ranks == {"bm25": 1, "repomap": 1}
    assert "repomap" in retriever.last_signals
    retriever.close()


def test_search_indexes_a_new_ref_lexically_on_first_use(shop_repo: Path, store_dir: Path) -> None:
    retriever = lexical_retriever(shop_repo, store_dir=store_dir)
    assert all(h.path != "ship.py" for h in retriever.search("shipping label", k=3, ref="main"))
    (shop_repo / "ship.py").write_text("def shipping_label(order):\n    return order.address\n")
    commit_all(shop_repo)
    retriever.refresh()
    hits = retriever.search("shipping label", k=1, ref="main")
    assert hits[0].symbol == "shipping_label"
    retriever.close()


def test_unknown_ref_and_unindexed_ref(shop_repo: Path, store_dir: Path) -> None:
    retriever = lexical_retriever(shop_repo, store_dir=store_dir)
    with pytest.raises(RepositoryError, match="does not exist"):
        retriever.search("x", ref="no-such-branch")
    strict = HybridRetriever(shop_repo, store_dir=store_dir, dense=False, auto_index=False)
    with pytest.raises(UsageError, match="not indexed"):
        strict.search("cart", ref="main")
    build_index(shop_repo, "main", store_dir, dense=False)
    assert strict.search("cart", ref="main")
    retriever.close()
    strict.close()


def test_repo_map_ranks_and_fits_the_budget(tmp_path: Path, store_dir: Path) -> None:
    files = {
        "core.py": "class PriceEngine:\n    def quote(self):\n        return 1\n",
        "api.py": (
            "from core import PriceEngine\n\ndef handler():\n    return PriceEngine().quote()\n"
        ),
        "cli.py": "from api import handler\n\ndef main():\n    handler()\n",
        "unrelated.py": "def noise():\n    return 0\n",
    }
    repo = make_repo(tmp_path / "graph", files)
    stats = build_index(repo, "main", store_dir, dense=False)
    with Store(store_dir) as store:
        graph = RepoGraph.build(store, stats.manifest)
        personal = graph.personalization(mentions_in("cli.py crashes"))
        assert personal is not None
        rank = dict(zip(graph.paths, graph.rank(personal), strict=True))
    # cli.py -> api.py -> core.py: the referenced chain outranks the unrelated file
    assert rank["cli.py"] > rank["api.py"] > rank["unrelated.py"]
    assert rank["core.py"] > rank["unrelated.py"]
    retriever = lexical_retriever(repo, store_dir=store_dir)
    text = retriever.repo_map("PriceEngine quote", budget_tokens=30)
    assert text.startswith("core.py:\n    1: class PriceEngine:")
    assert estimate_tokens(text) <= 30
    full = retriever.repo_map("PriceEngine", budget_tokens=1000)
    assert "    3: def handler():" in full
    assert "unrelated.py" in full
    retriever.close()


def test_registry_and_import_stay_light() -> None:
    assert retrievers.names() == ["hybrid", "lexical"]
    assert retrievers.resolve("hybrid") is HybridRetriever
    code = (
        "import sys, patchloop.index as i; i.retrievers.names();"
        "heavy = [m for m in ('torch', 'faiss', 'numpy', 'bm25s', 'tree_sitter', 'onnxruntime')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_open_retriever_scopes_hits_to_a_project_subdirectory(
    tmp_path: Path, store_dir: Path
) -> None:
    files = {
        "app/billing.py": "def refund_payment(order):\n    return order.total\n",
        "tools/refund.py": "def refund_payment_script():\n    pass\n",
    }
    repo = make_repo(tmp_path / "mono", files)
    (repo / "app" / "draft.py").write_text("def refund_draft():\n    return None\n")

    class Located:
        project = repo / "app"

    retriever = open_retriever(Located(), None, store_dir=store_dir)
    hits = retriever.search("refund payment", k=5)
    assert {h.path for h in hits} == {"billing.py", "draft.py"}  # dirty files included
    retriever.close()


def test_search_scored_reports_raw_scores_per_signal(shop_repo: Path, store_dir: Path) -> None:
    retriever = lexical_retriever(shop_repo, store_dir=store_dir)
    scored = retriever.search_scored("invoice_tax after apply_discount", k=5)
    hits = [hit for hit, _ in scored]
    assert hits == retriever.search("invoice_tax after apply_discount", k=5)
    state = retriever._state(None)
    bm25 = dict(state.lexical.top(tokenize("invoice_tax after apply_discount"), 50))
    for hit, raw in scored:
        assert set(raw) == set(hit.ranks)
        row = next(
            r
            for r in range(len(state.rows))
            if (state.rows.paths[r], state.rows.starts[r]) == (hit.path, hit.start_line)
        )
        if "bm25" in raw:
            assert raw["bm25"] == pytest.approx(bm25[row], abs=1e-6)
    by_bm25 = sorted((p for p in scored if "bm25" in p[1]), key=lambda p: p[0].ranks["bm25"])
    values = [raw["bm25"] for _, raw in by_bm25]
    assert values == sorted(values, reverse=True)
    assert len(set(values)) > 1  # real scores, not ranks
    repomap = [r["repomap"] for _, r in scored if "repomap" in r]
    assert repomap
    assert all(0 < v <= 10 for v in repomap)
    retriever.close()
