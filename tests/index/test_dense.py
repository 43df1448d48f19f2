"""Dense retrieval with the bundled MiniLM (real weights, no network)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from patchloop.index import HybridRetriever, build_index, gc
from patchloop.index.embed import load_embedder, model_key
from patchloop.index.store import Store
from patchloop.index.vectors import VectorIndex
from tests.conftest import make_repo
from tests.index.conftest import INVOICE, README, SHOP, commit_all

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index directory for the module: the model graph is exported once."""
    return tmp_path_factory.mktemp("dense") / "index"


def test_dense_index_is_incremental_and_searchable(tmp_path: Path, shared_store: Path) -> None:
    repo = make_repo(
        tmp_path / "shop", {"shop.py": SHOP, "invoice.py": INVOICE, "README.md": README}
    )
    first = build_index(repo, "main", shared_store)
    assert first.embedded == first.chunks_new > 0
    assert first.dense_pending == 0
    assert first.embedder in ("torch-bf16", "onnx-fp32")
    assert build_index(repo, "main", shared_store).embedded == 0

    (repo / "shop.py").write_text(SHOP.replace("return total * (1 -", "return total * (1.0 -"))
    commit_all(repo)
    edited = build_index(repo, "main", shared_store)
    assert edited.embedded == 1
    assert edited.embeddings_reused == first.chunks_new - 1

    retriever = HybridRetriever(repo, ref="main", store_dir=shared_store)
    hits = retriever.search("lower the amount by a percentage", k=3)
    assert retriever.dense_error is None
    assert "dense" in retriever.last_signals
    assert hits[0].symbol == "apply_discount"
    assert hits[0].ranks["dense"] == 1
    retriever.close()


def test_query_embeddings_match_the_indexing_backend(shared_store: Path) -> None:
    texts = ["def apply_discount(total, percent):", "render the invoice total", "class Cart:"]
    onnx = load_embedder("onnx", models_dir=shared_store / "models").embed(texts)
    bulk = load_embedder("auto", models_dir=shared_store / "models").embed(texts)
    assert onnx.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(onnx, axis=1), 1.0, rtol=1e-5)
    assert float(np.min(np.sum(onnx * bulk, axis=1))) > 0.99


def test_parallel_batches_give_the_same_vectors() -> None:
    from patchloop.index.embed import TorchEmbedder

    # Many lengths, small batches: several batches run at once and must land in input order.
    texts = [f"def f{i}(x):\n    return x * {i}" + " + x" * (i % 17) for i in range(40)]
    one = TorchEmbedder("fp32", batch_tokens=256, workers=1).embed(texts)
    two = TorchEmbedder("fp32", batch_tokens=256, workers=2).embed(texts)
    np.testing.assert_allclose(one, two, atol=1e-5)
    assert float(np.min(np.sum(one * two, axis=1))) > 0.9999


def test_search_process_does_not_import_torch(tmp_path: Path, shared_store: Path) -> None:
    repo = make_repo(tmp_path / "shop2", {"shop.py": SHOP})
    build_index(repo, "main", shared_store)
    code = (
        "import sys\nfrom pathlib import Path\nfrom patchloop.index import HybridRetriever\n"
        f"r = HybridRetriever(Path({str(repo)!r}), ref='main',"
        f" store_dir=Path({str(shared_store)!r}))\n"
        "hits = r.search('shopping cart items', k=2)\n"
        "print(r.last_signals, 'torch' in sys.modules, hits[0].symbol)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    signals, torch_loaded, symbol = out.stdout.strip().rsplit(" ", 2)
    assert "dense" in signals
    assert torch_loaded == "False"
    assert symbol.startswith("Cart")


def test_gc_removes_vectors_of_dropped_chunks(tmp_path: Path, shared_store: Path) -> None:
    repo = make_repo(tmp_path / "gone", {"gone.py": "def vanishing_helper():\n    return 7\n"})
    stats = build_index(repo, "main", shared_store)
    assert stats.embedded == 1
    with Store(shared_store) as store:
        ids = store.db.execute(
            "SELECT id FROM chunks WHERE text LIKE '%vanishing_helper%'"
        ).fetchall()
    (repo / "gone.py").write_text("def replacement():\n    return 8\n")
    commit_all(repo)
    build_index(repo, "main", shared_store)
    assert gc(shared_store).embeddings == 1
    with Store(shared_store) as store:
        vectors = VectorIndex.load(store, model_key())
        import faiss

        stored = set(faiss.vector_to_array(vectors.index.id_map).tolist())
    assert ids[0][0] not in stored
