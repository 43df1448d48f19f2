"""The issue-localization view of an indexed ref, and reuse across consecutive commits."""

from __future__ import annotations

from pathlib import Path

from patchloop.index import HybridRetriever, build_index
from patchloop.index.lexical import Lexical
from tests.conftest import git, make_repo
from tests.index.conftest import INVOICE, SHOP, commit_all


def test_consecutive_commits_reuse_chunks_and_keep_their_own_views(tmp_path: Path) -> None:
    extra = {f"pkg/mod{i}.py": f"def helper_{i}(x):\n    return x + {i}\n" for i in range(8)}
    repo = make_repo(tmp_path / "shop", {"shop.py": SHOP, "invoice.py": INVOICE, **extra})
    first = git(repo, "rev-parse", "HEAD").strip()
    store = tmp_path / "index"
    cold = build_index(repo, ref=first, store_dir=store, dense=False)
    assert cold.files_reused == 0
    assert cold.chunks_new > 0
    (repo / "invoice.py").write_text(INVOICE + "\n\ndef refund_invoice(cart):\n    return 0\n")
    second = commit_all(repo, "refunds")
    warm = build_index(repo, ref=second, store_dir=store, dense=False)
    assert warm.files == cold.files
    assert warm.files_chunked == 1
    assert warm.files_reused == warm.files - 1
    assert warm.chunks_reused > warm.chunks_new > 0
    assert warm.manifest != cold.manifest

    old = HybridRetriever(repo, ref=first, store_dir=store, dense=False)
    new = HybridRetriever(repo, ref=second, store_dir=store, dense=False)
    try:
        assert "refund_invoice" not in old.view().definitions
        (found,) = new.view().definitions["refund_invoice"]
        assert (found.path, found.kind) == ("invoice.py", "function")
        assert new.view().search_files("refund invoice", 3)[0][0] == "invoice.py"
        cart = new.view().symbols[("shop.py", "Cart")]
        method = new.view().symbols[("shop.py", "Cart.total_price")]
        assert cart.start < method.start <= method.end <= cart.end
        assert new.view().read_text("shop.py") == SHOP
        assert old.view().read_text("invoice.py") == INVOICE
    finally:
        old.close()
        new.close()
    from patchloop.index.store import Store

    with Store(store) as opened:
        for manifest in (cold.manifest, warm.manifest):
            assert Lexical.directory(opened, manifest, "file").is_dir()
