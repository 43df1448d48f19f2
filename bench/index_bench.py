"""Index benchmark on real code nobody here wrote: an installed library copied into a git repo.

Prints one JSON object:

- ``cold``: first index of the copy (chunking, lexical, dense seconds; lexical-ready time).
- ``embedding``: our bulk embedder vs sentence-transformers' default ``encode`` on the same
  chunks in the same run (chunks/s, ratio, per CPU-second too) and recall@10 of our vectors
  against that fp32 reference (queries: chunk texts and their symbol names, searched among all
  compared chunks).
- ``one_file_update``: re-index after editing one function of one file and committing.
- ``branch_switch``: index a branch that changes 1% of the files (one function each).
- ``query``: hybrid query latency p50/p95 (model loaded, warm; wall clock, and CPU time of the
  searching thread, which other load on the machine does not inflate) at the library's size and at
  ``--big`` chunks. The big corpus replicates the library's files under numbered directories,
  renaming a seeded random half of the identifiers in each copy so that chunks and vocabulary
  vary; its vectors are the stored vectors of random real chunks plus Gaussian noise (sigma
  0.05, renormalised), written straight into the store, because embedding 50,000 chunks takes
  most of an hour on two cores and exact search costs the same for any vector values.

Usage: ``python bench/index_bench.py [--package rich] [--compare 800] [--big 50000]``
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from patchloop.index import HybridRetriever, build_index
from patchloop.index.embed import load_embedder, model_key, model_path
from patchloop.index.store import Store
from patchloop.index.vectors import VectorIndex

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{3,}\b")
_KEYWORDS = set(
    [
        "self",
        "None",
        "True",
        "False",
        "return",
        "class",
        "def",
        "import",
        "from",
        "async",
        "await",
        "while",
        "yield",
        "lambda",
        "with",
        "pass",
        "raise",
        "else",
        "elif",
        "except",
        "finally",
        "global",
        "nonlocal",
        "assert",
        "break",
        "continue",
        "print",
        "super",
        "isinstance",
        "len",
        "str",
        "int",
        "float",
        "dict",
        "list",
        "tuple",
        "set",
        "bool",
        "bytes",
        "object",
        "property",
        "staticmethod",
        "classmethod",
    ]
)


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True)
    return out.stdout.decode()


def copy_package(name: str, dest: Path) -> int:
    source = Path(importlib.import_module(name).__file__ or "").parent
    shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "import")
    return len(list((dest / name).rglob("*.py")))


def edit_function(path: Path, tag: str) -> None:
    """Change the first function body of ``path`` (a new statement after its first line)."""
    lines = path.read_text().split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith("def ") and line.rstrip().endswith(":"):
            indent = len(line) - len(line.lstrip()) + 4
            lines.insert(i + 1, " " * indent + f"_bench_marker = {tag!r}")
            break
    path.write_text("\n".join(lines))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def recall_at_10(
    reference: np.ndarray, ours: np.ndarray, queries_ref: np.ndarray, queries_ours: np.ndarray
) -> float:
    ref_top = np.argsort(-(queries_ref @ reference.T), axis=1)[:, :10]
    our_top = np.argsort(-(queries_ours @ ours.T), axis=1)[:, :10]
    return float(
        np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ref_top, our_top, strict=True)])
    )


def compare_embeddings(store_dir: Path, manifest: str, sample: int, backend: str) -> dict[str, Any]:
    with Store(store_dir) as store:
        rows = store.db.execute(
            "SELECT DISTINCT c.text, fc.symbol FROM manifest_files mf JOIN file_chunks fc "
            "ON fc.file_key = mf.file_key JOIN chunks c ON c.id = fc.chunk_id "
            "WHERE mf.manifest = ?",
            (manifest,),
        ).fetchall()
    random.Random(0).shuffle(rows)
    rows = rows[:sample]
    texts = [t for t, _ in rows]
    symbol_queries = sorted({s.replace(".", " ").replace("_", " ") for _, s in rows if s})[:200]
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    reference_model = SentenceTransformer(str(model_path()), device="cpu")
    reference_model.encode(texts[:8])
    ours = load_embedder(backend, models_dir=store_dir / "models")
    ours.embed(texts[:8])
    timings: dict[str, list[float]] = {"reference": [], "ours": []}
    cpu: dict[str, list[float]] = {"reference": [], "ours": []}
    # alternate the two so that load from other processes hits both alike
    for _ in range(2):
        for name in ("reference", "ours"):
            wall, proc = time.perf_counter(), time.process_time()
            if name == "reference":
                ref = reference_model.encode(texts, normalize_embeddings=True)
            else:
                mine = ours.embed(texts)
            timings[name].append(time.perf_counter() - wall)
            cpu[name].append(time.process_time() - proc)
    ref_q = reference_model.encode(symbol_queries, normalize_embeddings=True)
    our_q = ours.embed(symbol_queries)
    n = len(texts)
    return {
        "chunks": n,
        "backend": ours.backend,
        "reference_chunks_per_s": round(n / min(timings["reference"]), 2),
        "ours_chunks_per_s": round(n / min(timings["ours"]), 2),
        "ratio": round(min(timings["reference"]) / min(timings["ours"]), 2),
        "ratio_cpu_time": round(min(cpu["reference"]) / min(cpu["ours"]), 2),
        "recall_at_10_chunk_queries": round(recall_at_10(ref, mine, ref[:200], mine[:200]), 4),
        "recall_at_10_symbol_queries": round(recall_at_10(ref, mine, ref_q, our_q), 4),
        "min_cosine_to_reference": round(float(np.min(np.sum(ref * mine, axis=1))), 5),
    }


def make_queries(store_dir: Path, manifest: str, count: int) -> list[str]:
    with Store(store_dir) as store:
        rows = store.db.execute(
            "SELECT fc.symbol, c.text FROM manifest_files mf JOIN file_chunks fc "
            "ON fc.file_key = mf.file_key JOIN chunks c ON c.id = fc.chunk_id "
            "WHERE mf.manifest = ? AND fc.symbol != '' ORDER BY mf.path, fc.seq",
            (manifest,),
        ).fetchall()
    rng = random.Random(1)
    queries = []
    for symbol, text in rng.sample(rows, min(count, len(rows))):
        doc = re.search(r'"""(.+?)(?:\.|\n|""")', text)
        words = symbol.split(".")[-1].replace("_", " ").strip()
        queries.append(f"{words} {doc.group(1).strip()}" if doc else words)
    return queries


def query_latency(repo: Path, store_dir: Path, ref: str, queries: list[str]) -> dict[str, Any]:
    retriever = HybridRetriever(repo, ref=ref, store_dir=store_dir)
    for q in queries[:5]:
        retriever.search(q, 10)  # loads the model, the vectors and the graph
    times, cpu = [], []
    for q in queries:
        start, start_cpu = time.perf_counter(), time.thread_time()
        retriever.search(q, 10)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    signals = retriever.last_signals
    retriever.close()
    return {
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
        "cpu_p95_ms": round(percentile(cpu, 95), 2),
        "signals": list(signals),
    }


def _renamer(copy: int) -> Any:
    """A ``re.sub`` callback renaming a seeded random half of the identifiers."""
    rng = random.Random(copy)
    rename: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        if word in _KEYWORDS:
            return word
        if word not in rename:
            rename[word] = f"{word}{copy}" if rng.random() < 0.5 else word
        return rename[word]

    return swap


def replicate(repo: Path, package: str, copies: int) -> None:
    files = sorted((repo / package).rglob("*.py"))
    for k in range(copies):
        swap = _renamer(k)
        for path in files:
            target = repo / f"copy{k:02d}" / path.relative_to(repo)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_IDENT.sub(swap, path.read_text()))


def synthesize_vectors(store_dir: Path, manifest: str) -> int:
    key = model_key()
    rng = np.random.default_rng(0)
    with Store(store_dir) as store:
        real = [
            np.frombuffer(r[0], dtype=np.float32)
            for r in store.db.execute("SELECT vector FROM embeddings WHERE model = ?", (key,))
        ]
        missing = [
            r[0]
            for r in store.db.execute(
                "SELECT DISTINCT fc.chunk_id FROM manifest_files mf JOIN file_chunks fc "
                "ON fc.file_key = mf.file_key WHERE mf.manifest = ? AND fc.chunk_id NOT IN "
                "(SELECT chunk_id FROM embeddings WHERE model = ?)",
                (manifest, key),
            )
        ]
        base = np.stack([real[i] for i in rng.integers(0, len(real), len(missing))])
        noisy = base + rng.normal(0, 0.05, base.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        with store.write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO embeddings(model, chunk_id, vector) VALUES (?, ?, ?)",
                [
                    (key, cid, noisy[i].astype(np.float32).tobytes())
                    for i, cid in enumerate(missing)
                ],
            )
        VectorIndex.load(store, key).save(store, key)
    return len(missing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", default="rich")
    parser.add_argument("--compare", type=int, default=800, help="chunks for the encode comparison")
    parser.add_argument("--big", type=int, default=50_000, help="chunks of the large corpus")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    result: dict[str, Any] = {"package": args.package, "cpus": os.cpu_count()}
    work = Path(tempfile.mkdtemp(prefix="index-bench-"))
    try:
        repo, store_dir = work / "repo", work / "index"
        repo.mkdir()
        result["files"] = copy_package(args.package, repo)

        start = time.perf_counter()
        cold = build_index(repo, "main", store_dir, embedder=args.backend)
        total = time.perf_counter() - start
        t = cold.timings
        result["cold"] = {
            "chunks": cold.chunks,
            "unique_chunks": cold.chunks_new,
            "total_s": round(total, 2),
            "chunking_s": round(t["list"] + t["chunk"] + t["manifest"], 3),
            "lexical_s": round(t["lexical"], 3),
            "lexically_searchable_after_s": round(
                t["list"] + t["chunk"] + t["manifest"] + t["lexical"], 3
            ),
            "dense_s": round(t.get("dense", 0.0), 2),
            "dense_chunks_per_s": round(cold.embedded / t["dense"], 2) if t.get("dense") else None,
            "embedder": cold.embedder,
        }
        result["embedding"] = compare_embeddings(
            store_dir, cold.manifest, args.compare, args.backend
        )

        files = sorted((repo / args.package).rglob("*.py"))
        edit_function(files[len(files) // 2], "one")
        git(repo, "commit", "-qam", "edit one")
        start = time.perf_counter()
        one = build_index(repo, "main", store_dir, embedder=args.backend)
        result["one_file_update"] = {
            "seconds": round(time.perf_counter() - start, 3),
            "files_chunked": one.files_chunked,
            "chunks_new": one.chunks_new,
            "embedded": one.embedded,
            "timings": one.timings,
        }

        git(repo, "checkout", "-q", "-b", "feature")
        changed = random.Random(2).sample(files, max(1, round(len(files) / 100)))
        for path in changed:
            edit_function(path, "branch")
        git(repo, "commit", "-qam", "feature")
        git(repo, "checkout", "-q", "main")
        start = time.perf_counter()
        branch = build_index(repo, "feature", store_dir, embedder=args.backend)
        result["branch_switch"] = {
            "seconds": round(time.perf_counter() - start, 3),
            "files_changed": len(changed),
            "files_chunked": branch.files_chunked,
            "chunks_new": branch.chunks_new,
            "embedded": branch.embedded,
            "timings": branch.timings,
        }

        queries = make_queries(store_dir, cold.manifest, args.queries)
        result["query"] = {
            "small": {"chunks": cold.chunks, **query_latency(repo, store_dir, "main", queries)}
        }

        copies = max(0, -(-args.big // max(cold.chunks, 1)) - 1)
        replicate(repo, args.package, copies)
        git(repo, "checkout", "-q", "-b", "big")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "replicated")
        start = time.perf_counter()
        big = build_index(repo, "big", store_dir, dense=False)
        lexical_s = time.perf_counter() - start
        synthesized = synthesize_vectors(store_dir, big.manifest)
        result["query"]["big"] = {
            "chunks": big.chunks,
            "copies": copies,
            "lexical_index_s": round(lexical_s, 2),
            "synthesized_vectors": synthesized,
            **query_latency(repo, store_dir, "big", queries),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
