"""The array-based BM25 build scores exactly like bm25s' own indexing."""

from __future__ import annotations

import random

import bm25s
import numpy as np

from patchloop.index.lexical import _fill


def test_array_build_matches_bm25s_index() -> None:
    rng = random.Random(3)
    words = [f"w{i}" for i in range(60)]
    docs = [[rng.choice(words) for _ in range(rng.randint(1, 30))] for _ in range(200)]
    reference = bm25s.BM25()
    reference.index(docs, show_progress=False)
    vocab: dict[str, int] = {}
    flat = np.array([vocab.setdefault(t, len(vocab)) for doc in docs for t in doc])
    ours = bm25s.BM25()
    _fill(ours, flat, np.array([len(doc) for doc in docs]), vocab)
    for query in (["w1"], ["w2", "w7", "w7"], ["w59", "w0", "w33"]):
        np.testing.assert_allclose(
            ours.get_scores(query), reference.get_scores(query), rtol=1e-5, atol=1e-6
        )
