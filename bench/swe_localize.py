"""Issue-text localization on SWE-bench checkouts, side by side with whole-file BM25.

Used by ``bench/localize_bench.py --swebench FILE --repos DIR`` (and by
``bench/localize_train.py`` for feature dumps). For each repository, instances are taken in
the order of their base commits' dates and indexed by commit (``patchloop index --ref COMMIT``:
no checkout), one index store serving them all, so the first commit of a repository is indexed
cold and the next ones incrementally. Nothing runs the repositories' tests: the query is the
problem statement alone.

Scores per instance: file hit@1/@5/@10 and recall@5; function hit@5 and recall@5/@10 (a
located definition counts when its ``path::qualname`` equals a gold function exactly, module
level being ``<module>``); line hit@5 (one of the first five line ranges overlaps a gold hunk).
The baseline is BM25 over whole non-test ``.py`` files (path + content, identifier-aware
tokens, bm25s defaults) built from the commit's blobs for each instance (cached in ``work``);
its function level is chunk BM25 (the index's own chunks, each mapped to its definition).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from patchloop.index.tokenize import tokenize
from patchloop.localize._paths import is_source_path

__all__ = ["BaselineBM25", "run", "score_instance"]


def load(path: Path) -> list[dict[str, Any]]:
    """The instances of a JSONL file; ``ValueError`` naming the line that is not JSON."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    return out


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


class BaselineBM25:
    """Whole-file BM25 over the non-test ``.py`` files of a commit."""

    def __init__(self, repo: Path, commit: str) -> None:
        import bm25s  # type: ignore[import-untyped]

        from patchloop.index.gitsource import list_files, read_blobs

        files, _ = list_files(repo, commit, commit, {})
        wanted = [f for f in files if is_source_path(f.path)]
        texts = {f.path: data.decode("utf-8", "replace") for f, data in read_blobs(repo, wanted)}
        self.paths = [f.path for f in wanted]
        corpus = [tokenize(p) + tokenize(texts.get(p, "")) for p in self.paths]
        self.bm25 = bm25s.BM25()
        self.bm25.index(corpus, show_progress=False)

    def files(self, query: str, k: int = 10) -> list[str]:
        import numpy as np

        tokens = [t for t in tokenize(query) if t in self.bm25.vocab_dict]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.paths[i] for i in order if scores[i] > 0]


def score_instance(
    files: Sequence[str],
    functions: Sequence[str],
    lines: Sequence[tuple[str, int, int]],
    inst: Mapping[str, Any],
) -> dict[str, Any]:
    """Metrics of one ranking against an instance's gold files, functions and hunks."""
    gold = set(inst["gold_files"])
    gold_fns = {g.replace("::<module>", "::") for g in inst["gold_functions"]}
    out: dict[str, Any] = {
        "file@1": bool(gold & set(files[:1])),
        "file@5": bool(gold & set(files[:5])),
        "file@10": bool(gold & set(files[:10])),
        "file_recall@5": len(gold & set(files[:5])) / len(gold),
    }
    if gold_fns:
        out["function@5"] = bool(gold_fns & set(functions[:5]))
        out["function_recall@5"] = len(gold_fns & set(functions[:5])) / len(gold_fns)
        out["function_recall@10"] = len(gold_fns & set(functions[:10])) / len(gold_fns)
    hunks = [
        (h["file"], h["old_start"], h["old_start"] + max(h["old_len"], 1) - 1)
        for h in inst["gold_hunks"]
    ]
    if lines and hunks:
        out["line@5"] = any(
            p == hp and s <= he and hs <= e for p, s, e in lines[:5] for hp, hs, he in hunks
        )
    return out


def summarize(rows: Sequence[Mapping[str, Any]], key: str) -> dict[str, Any]:
    scored = [r[key] for r in rows if key in r]
    metrics: dict[str, list[float]] = {}
    for s in scored:
        for name, value in s.items():
            metrics.setdefault(name, []).append(float(value))
    out: dict[str, Any] = {"n": len(scored)}
    for name, values in sorted(metrics.items()):
        out[name] = round(sum(values) / len(values), 4)
        if name.startswith("function"):
            out[f"{name}_n"] = len(values)
    return out


def _commit_time(repo: Path, commit: str) -> int:
    return int(git(repo, "show", "-s", "--format=%ct", commit).strip() or 0)


def run(
    instances: Sequence[Mapping[str, Any]],
    repos: Path,
    work: Path,
    store_dir: Path,
    *,
    dump: Path | None = None,
    progress: bool = True,
    reranker: Any = None,
    rerank_every: int = 1,
) -> dict[str, Any]:
    """Localize every instance whose repository is under ``repos``; JSON-able summary.

    With ``reranker`` (a :class:`~patchloop.localize.rerank.ModelReranker`), every
    ``rerank_every``-th instance is also reranked by the model, and ``rerank`` compares the
    files before and after on those instances."""
    from patchloop.index import HybridRetriever, build_index
    from patchloop.localize.issue import IssueRanker

    by_repo: dict[str, list[Mapping[str, Any]]] = {}
    for inst in instances:
        if (repos / inst["repo"].replace("/", "__")).is_dir():
            by_repo.setdefault(inst["repo"], []).append(inst)
    rows: list[dict[str, Any]] = []
    index_rows: list[dict[str, Any]] = []
    dump_handle = dump.open("w", encoding="utf-8") if dump else None
    cache_file = work / "baseline-cache.json"
    baselines: dict[str, Any] = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    started_all = time.monotonic()
    for repo_name, unordered in sorted(by_repo.items()):
        repo = repos / repo_name.replace("/", "__")
        group = sorted(
            unordered, key=lambda i: (_commit_time(repo, i["base_commit"]), i["instance_id"])
        )
        for inst in group:
            row: dict[str, Any] = {"id": inst["instance_id"], "repo": repo_name}
            commit = inst["base_commit"]
            t0 = time.monotonic()
            stats = build_index(repo, ref=commit, store_dir=store_dir, dense=False)
            index_s = time.monotonic() - t0
            index_rows.append(
                {
                    "repo": repo_name,
                    "cold": stats.files_reused == 0,
                    "timings": stats.timings,
                    "seconds": round(index_s, 3),
                    "files": stats.files,
                    "files_reused": stats.files_reused,
                    "chunks": stats.chunks,
                    "chunks_new": stats.chunks_new,
                    "chunks_reused": stats.chunks_reused,
                }
            )
            text = inst["problem_statement"]
            t0 = time.monotonic()
            retriever = HybridRetriever(repo, ref=commit, store_dir=store_dir, dense=False)
            view = retriever.view()
            ranker = IssueRanker(view)
            ranking = ranker.rank(text, files=10, symbols=10, lines=10)
            row["query_s"] = round(time.monotonic() - t0, 4)
            t0 = time.monotonic()
            ranker.rank(text, files=10, symbols=10, lines=10)
            row["warm_query_s"] = round(time.monotonic() - t0, 4)
            files = [f.path for f in ranking.files]
            functions = [f"{s.path}::{s.qualname}" for s in ranking.symbols]
            lines = [(r.path, r.start, r.end) for r in ranking.lines]
            row["ours"] = score_instance(files, functions, lines, inst)
            row["top"] = files[:5]
            if reranker is not None and len(rows) % rerank_every == 0:
                row.update(
                    _rerank(
                        reranker, ranking, text, view, functions=functions, lines=lines, inst=inst
                    )
                )
            cached = baselines.get(inst["instance_id"])
            if cached is None:
                t0 = time.monotonic()
                baseline = BaselineBM25(repo, commit)
                cached = {
                    "files": baseline.files(text, 10),
                    "index_s": round(time.monotonic() - t0, 3),
                }
                baselines[inst["instance_id"]] = cached
                work.mkdir(parents=True, exist_ok=True)
                cache_file.write_text(json.dumps(baselines))
            row["baseline_index_s"] = cached["index_s"]
            base_files = cached["files"]
            chunk_fns = _chunk_functions(view, text)
            row["bm25"] = score_instance(base_files, chunk_fns, [], inst)
            rows.append(row)
            if dump_handle is not None:
                _dump(dump_handle, ranker, text, inst)
            retriever.close()
            if progress:
                ours, bm25 = row["ours"], row["bm25"]
                print(
                    f"{inst['instance_id']}: ours {ours['file@1']:d}/{ours['file@5']:d}"
                    f" bm25 {bm25['file@1']:d}/{bm25['file@5']:d}"
                    f" index {index_s:.1f}s query {row['query_s']:.2f}s",
                    file=__import__("sys").stderr,
                    flush=True,
                )
    if dump_handle is not None:
        dump_handle.close()
    work.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(baselines))
    return {
        "instances": len(rows),
        "ours": summarize(rows, "ours"),
        "whole_file_bm25": summarize(rows, "bm25"),
        "by_repo": {
            repo: {"ours": summarize(rs, "ours"), "whole_file_bm25": summarize(rs, "bm25")}
            for repo, rs in _group(rows).items()
        },
        "index": _index_summary(index_rows),
        "query_s": _dist([r["query_s"] for r in rows]),
        "warm_query_s": _dist([r["warm_query_s"] for r in rows]),
        "baseline_index_s": _dist([r["baseline_index_s"] for r in rows]),
        "wall_s": round(time.monotonic() - started_all, 1),
        **({"rerank": _rerank_summary(rows)} if reranker is not None else {}),
        "rows": rows,
    }


def _rerank(
    reranker: Any,
    ranking: Any,
    text: str,
    view: Any,
    *,
    functions: Sequence[str],
    lines: Sequence[tuple[str, int, int]],
    inst: Mapping[str, Any],
) -> dict[str, Any]:
    """The model's reranking of one instance's files, scored like the ranking itself."""
    from patchloop.errors import PatchloopError

    t0 = time.monotonic()
    try:
        reranked = reranker.rerank(ranking, text, view)
    except PatchloopError as exc:
        return {"rerank_error": f"{type(exc).__name__}: {exc}"[:300]}
    files = [f.path for f in reranked.files]
    return {
        "reranked": score_instance(files, functions, lines, inst),
        "rerank_top": files[:5],
        "rerank_s": round(time.monotonic() - t0, 2),
    }


def _rerank_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """File hit@1/@5 before and after the model, on the instances it reranked."""
    done = [r for r in rows if "reranked" in r]
    return {
        "instances": len(done),
        "errors": sum(1 for r in rows if "rerank_error" in r),
        "before": summarize(done, "ours"),
        "after": summarize(done, "reranked"),
        "gained": [r["id"] for r in done if r["reranked"]["file@1"] > r["ours"]["file@1"]],
        "lost": [r["id"] for r in done if r["reranked"]["file@1"] < r["ours"]["file@1"]],
        "seconds": _dist([r["rerank_s"] for r in done]),
    }


def _chunk_functions(view: Any, text: str) -> list[str]:
    out: list[str] = []
    for span, _ in view.search_chunks(text, 200):
        if not is_source_path(span.path):
            continue
        symbol = span.symbol if span.kind not in ("module", "window") else ""
        key = f"{span.path}::{symbol}"
        if key not in out:
            out.append(key)
        if len(out) >= 10:
            break
    return out


def _dump(handle: Any, ranker: Any, text: str, inst: Mapping[str, Any]) -> None:
    """Features of every candidate file and definition, with gold labels (for training)."""
    from patchloop.localize.clues import extract_clues

    clues = extract_clues(text)
    features, evidence, chunk_hits = ranker.file_features(text, clues)
    gold = set(inst["gold_files"])
    from patchloop.localize.issue import FileScore, _linear

    scored = sorted(
        ((_linear(f, ranker.file_weights), p) for p, f in features.items()),
        key=lambda item: (-item[0], item[1]),
    )
    top = [FileScore(p, s, features[p]) for s, p in scored[:10]]
    gold_fns = {g.replace("::<module>", "::") for g in inst["gold_functions"]}
    symbols = [
        {
            "key": f"{path}::{d.qualname if d else ''}",
            "features": f,
            "gold": f"{path}::{d.qualname if d else ''}" in gold_fns,
        }
        for d, path, f in ranker.symbol_features(top, evidence, chunk_hits, text)
    ]
    record = {
        "id": inst["instance_id"],
        "files": [{"path": p, "features": f, "gold": p in gold} for p, f in features.items()],
        "n_gold_files": len(gold),
        "symbols": symbols,
    }
    handle.write(json.dumps(record) + "\n")


def _group(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["repo"], []).append(row)
    return out


def _dist(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(ordered), 4),
        "p50": round(ordered[len(ordered) // 2], 4),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 4),
        "max": round(ordered[-1], 4),
    }


def _index_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for repo, group in _by(rows).items():
        cold = [r for r in group if r["cold"]]
        warm = [r for r in group if not r["cold"]]
        entry: dict[str, Any] = {"commits": len(group)}
        if cold:
            entry["cold_s"] = cold[0]["seconds"]
            entry["cold_files"] = cold[0]["files"]
            entry["cold_chunks"] = cold[0]["chunks"]
        if warm:
            files = sum(r["files"] for r in warm)
            chunks = sum(r["chunks_new"] + r["chunks_reused"] for r in warm)
            entry["incremental_s"] = _dist([r["seconds"] for r in warm])
            entry["files_reused_pct"] = round(
                100 * sum(r["files_reused"] for r in warm) / max(files, 1), 1
            )
            entry["chunks_reused_pct"] = round(
                100 * sum(r["chunks_reused"] for r in warm) / max(chunks, 1), 1
            )
        out[repo] = entry
    return out


def _by(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["repo"], []).append(row)
    return out


def iter_split(path: Path, exclude: Path | None) -> Iterator[dict[str, Any]]:
    """Instances of ``path`` that are not in ``exclude``."""
    skip = {i["instance_id"] for i in load(exclude)} if exclude else set()
    for inst in load(path):
        if inst["instance_id"] not in skip:
            yield inst
