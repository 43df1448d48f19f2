"""Localization quality: file hit@1/@5 and function hit@5, per signal and fused. Prints JSON.

(a) Task suites (``--suite FILE.jsonl``, format of ``shared/bench/README.md``): each task's
files are written to a temporary directory, its tests run once with per-test coverage (which
also yields the failures' tracebacks), and every signal is scored against ``meta.gold_files``
and ``meta.gold_functions``; ``sbfl_line`` scores line-level Ochiai against ``meta.bug_lines``.

(b) SWE-bench (``--swebench FILE.jsonl --repos DIR``): ``DIR`` holds git clones named
``owner__repo``; each instance's ``base_commit`` is indexed (``patchloop index --ref``) and
localized from the problem statement alone by the issue ranker (no tests run), side by side
with whole-file BM25 on the same instances; see ``bench/swe_localize.py`` for the metrics,
the index timings (cold, then incremental between the commits of one repository) and the
query latency. ``--exclude FILE`` leaves out the instances of another file (the development
split is Verified without Lite); ``--dump-features`` writes what ``bench/localize_train.py``
fits the ranker's weights on.

Function matching: a located ``symbol`` matches a gold function when they are equal or one is
a dotted prefix of the other (the suites name the outermost def, SWE-bench the innermost).

    python bench/localize_bench.py --suite ../shared/bench/quixbugs.jsonl \
        --suite ../shared/bench/humanevalfix.jsonl
    python bench/localize_bench.py --swebench ../shared/bench/swebench/lite.jsonl --repos ~/repos
    python bench/localize_bench.py --swebench ../shared/bench/swebench/verified.jsonl \
        --exclude ../shared/bench/swebench/lite.jsonl --repos ~/repos --dump-features dev.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from patchloop.domain import Limits, Location, ProcessResult, Task
from patchloop.errors import PatchloopError
from patchloop.localize import FusedLocalizer, collect_coverage, fuse, fuse_files, ochiai
from patchloop.localize.localizers import failing_targets
from patchloop.protocols import Retriever, Sandbox

#: Rankings scored besides the raw signals: what the loop uses first (tests only) and all.
TEST_SIGNALS = ("traceback", "calls", "sbfl")


# ------------------------------------------------------------------------------- scoring


def symbol_matches(located: str, gold: str) -> bool:
    """Equal, or one qualified name encloses the other."""
    if gold == "<module>":
        return located == ""
    return bool(located) and (
        located == gold or gold.startswith(located + ".") or located.startswith(gold + ".")
    )


def score_ranking(
    functions: Sequence[Location],
    files: Sequence[str],
    gold_files: Sequence[str],
    gold_functions: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """hit@1/@5 of files and hit@5 of functions (``None`` when there are no gold functions)."""
    gold = set(gold_files)
    fn_hit: bool | None = None
    if gold_functions:
        fn_hit = any(
            loc.path == path and symbol_matches(loc.symbol, name)
            for loc in functions[:5]
            for path, name in gold_functions
        )
    return {
        "file@1": bool(gold & set(files[:1])),
        "file@5": bool(gold & set(files[:5])),
        "function@5": fn_hit,
        "answered": bool(functions or files),
    }


def rankings_to_scores(
    rankings: Mapping[str, Sequence[Location]],
    gold_files: Sequence[str],
    gold_functions: Sequence[tuple[str, str]],
    combos: Mapping[str, Sequence[str]],
    weights: Mapping[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Scores of every raw signal and of each fused combination of signals."""
    out = {}
    for name, ranked in rankings.items():
        files = list(dict.fromkeys(loc.path for loc in ranked))
        out[name] = score_ranking(ranked, files, gold_files, gold_functions)
    for name, members in combos.items():
        subset = {s: rankings[s] for s in members if s in rankings}
        functions = fuse(subset, weights=weights)
        files = [loc.path for loc in fuse_files(subset, weights=weights)]
        out[name] = score_ranking(functions, files, gold_files, gold_functions)
    return out


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-signal rates over the rows that did not error."""
    ok = [r for r in rows if "error" not in r]
    signals: dict[str, dict[str, list[bool]]] = {}
    for row in ok:
        for name, result in row["scores"].items():
            bucket = signals.setdefault(name, {})
            for metric, value in result.items():
                if value is not None:
                    bucket.setdefault(metric, []).append(bool(value))
    table = {}
    for name, metrics in sorted(signals.items()):
        table[name] = {
            metric: round(sum(values) / len(ok), 4)
            if metric != "function@5"
            else (round(sum(values) / len(values), 4) if values else None)
            for metric, values in metrics.items()
        }
        if "function@5" in metrics:
            table[name]["n_function_gold"] = len(metrics["function@5"])
    return {"tasks": len(rows), "scored": len(ok), "errors": len(rows) - len(ok), "signals": table}


# ------------------------------------------------------------------------------- sandbox


class SubprocessSandbox:
    """Fallback when ``patchloop.sandbox`` is not installed: plain subprocesses, a wall clock."""

    name = "subprocess"

    @contextlib.contextmanager
    def workspace(self, template: Path) -> Iterator[Path]:
        base = Path(tempfile.mkdtemp(prefix="localize-bench-ws-"))
        try:
            shutil.copytree(template, base / "repo", symlinks=True)
            yield base / "repo"
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def run(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        writable: Sequence[Path] = (),
    ) -> ProcessResult:
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=workdir,
                env=full_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except OSError as exc:
            return ProcessResult(argv=tuple(argv), exit_code=None, error=str(exc))
        killed = None
        try:
            out, err = proc.communicate(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            killed = "wall"
        return ProcessResult(
            argv=tuple(argv),
            exit_code=proc.returncode,
            stdout=out[-100_000:],
            stderr=err[-100_000:],
            duration_s=time.monotonic() - start,
            killed_by=killed,
        )


def make_sandbox() -> Sandbox:
    try:
        from patchloop.sandbox.local import LocalSandbox
    except ImportError:
        return SubprocessSandbox()
    return LocalSandbox()  # type: ignore[no-any-return,unused-ignore]


# ------------------------------------------------------------------------------- retriever


def git_snapshot(root: Path) -> None:
    """Make ``root`` a git repository with one commit (the index reads git trees)."""
    if (root / ".git").exists():
        return
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "base"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def retriever_factory(spec: str, index_dir: Path) -> tuple[Callable[[Path], Retriever] | None, str]:
    """``factory(root) -> Retriever`` for ``spec``, and a note on what it is.

    ``hybrid`` / ``lexical``: index the root with ``patchloop.index`` (in ``index_dir``) and
    search it with BM25 + repo map (+ dense for ``hybrid``); ``none``: no retrieval;
    ``module:callable``: any factory.
    """
    if spec == "none":
        return None, "retrieval signals off (--retriever none)"
    if spec in ("hybrid", "lexical"):
        try:
            from patchloop.index import HybridRetriever, build_index
        except ImportError as exc:
            return None, f"retrieval signals unavailable: patchloop.index ({exc})"
        dense = spec == "hybrid"

        def make(root: Path) -> Retriever:
            git_snapshot(root)
            build_index(root, store_dir=index_dir, dense=dense)
            retriever: Retriever = HybridRetriever(root, store_dir=index_dir, dense=dense)
            return retriever

        return make, f"retrieval signals from patchloop.index ({spec})"
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        return None, f"retrieval signals unavailable: {spec} cannot be loaded ({exc})"
    return factory, f"retrieval signals from {spec}"


def open_retriever(
    factory: Callable[[Path], Retriever] | None, root: Path, row: dict[str, Any]
) -> Retriever | None:
    """The retriever for ``root``; a failure is noted in ``row`` and the signals skipped."""
    if factory is None:
        return None
    started = time.monotonic()
    try:
        return factory(root)
    except Exception as exc:  # the bench reports any index failure and goes on
        row["retriever_error"] = f"{type(exc).__name__}: {exc}"[:300]
        return None
    finally:
        row["index_s"] = round(time.monotonic() - started, 3)


# ------------------------------------------------------------------------------- suites


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def suite_task(
    task: Mapping[str, Any],
    sandbox: Sandbox,
    factory: Callable[[Path], Retriever] | None,
    test_timeout: float,
) -> dict[str, Any]:
    meta = task.get("meta", {})
    row: dict[str, Any] = {"id": task["id"]}
    with tempfile.TemporaryDirectory(prefix="localize-bench-") as tmp:
        root = Path(tmp) / "repo"
        for rel, text in task["files"].items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        started = time.monotonic()
        try:
            cov = collect_coverage(
                sandbox,
                root,
                shlex.split(task["test_cmd"]),
                [*task["fail_to_pass"], *task["pass_to_pass"]],
                limits=Limits(wall_s=300),
                env={"BENCH_TEST_TIMEOUT": str(test_timeout)},
            )
            row["coverage_s"] = round(time.monotonic() - started, 3)
            baseline = cov.report()
            the_task = Task(repo=root, description=task["task"], tests=tuple(task["fail_to_pass"]))
            retriever = open_retriever(factory, root, row)
            started = time.monotonic()
            signals = FusedLocalizer(retriever, cov).signals(the_task, baseline, root)
            row["localize_s"] = round(time.monotonic() - started, 3)
            lines = ochiai(cov, failing_targets(the_task, baseline), root=root, level="line")
        except PatchloopError as exc:
            row["error"] = str(exc)[:500]
            return row
    row["failing"] = len(baseline.failing)
    gold_functions = [(f, fn) for f in meta["gold_files"] for fn in meta["gold_functions"]]
    names = set(signals.rankings)
    combos = {
        "tests_fused": [s for s in TEST_SIGNALS if s in names],
        "fused": sorted(names),
    }
    row["scores"] = rankings_to_scores(signals.rankings, meta["gold_files"], gold_functions, combos)
    bug_lines = {(path, n) for path, ns in meta.get("bug_lines", {}).items() for n in ns}
    row["scores"]["sbfl_line"] = {
        f"line@{k}": any((loc.path, loc.start_line) in bug_lines for loc in lines[:k])
        for k in (1, 5, 10)
    }
    return row


def run_suite(
    path: Path,
    sandbox: Sandbox,
    factory: Callable[[Path], Retriever] | None,
    *,
    jobs: int,
    limit: int | None,
    test_timeout: float,
    details: bool = False,
) -> dict[str, Any]:
    tasks = load_jsonl(path)[:limit]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(lambda t: suite_task(t, sandbox, factory, test_timeout), tasks))
    summary = summarize(rows)
    summary["suite"] = str(path)
    summary["wall_s"] = round(time.monotonic() - started, 1)
    summary["coverage_s_mean"] = _mean(r.get("coverage_s") for r in rows)
    summary["index_s_mean"] = _mean(r.get("index_s") for r in rows)
    summary["retriever_errors"] = sorted(
        {r["retriever_error"] for r in rows if "retriever_error" in r}
    )[:5]
    summary["localize_s_mean"] = _mean(r.get("localize_s") for r in rows)
    summary["error_ids"] = [r["id"] for r in rows if "error" in r][:20]
    if details:
        summary["rows"] = rows
    return summary


def _mean(values: Any) -> float | None:
    nums = [v for v in values if v is not None]
    return round(sum(nums) / len(nums), 4) if nums else None


# ------------------------------------------------------------------------------- SWE-bench


# ------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", type=Path, default=[], help="task-suite JSONL")
    parser.add_argument(
        "--swebench", type=Path, help="SWE-bench JSONL (lite.jsonl, verified.jsonl)"
    )
    parser.add_argument("--repos", type=Path, help="directory of git clones named owner__repo")
    parser.add_argument("--exclude", type=Path, help="leave out the instances of this JSONL file")
    parser.add_argument("--only-repo", action="append", default=[], help="owner/name (repeatable)")
    parser.add_argument("--work", type=Path, help="cache directory (baseline results)")
    parser.add_argument("--dump-features", type=Path, help="write ranker features (JSONL)")
    parser.add_argument(
        "--rerank", metavar="MODEL", help="also rerank the best files with this model (SWE-bench)"
    )
    parser.add_argument(
        "--rerank-every",
        type=int,
        default=1,
        metavar="K",
        help="rerank every K-th instance only (default: all)",
    )
    parser.add_argument(
        "--retriever",
        default="hybrid",
        help="hybrid (default), lexical, none, or module:factory with factory(root) -> Retriever",
    )
    parser.add_argument("--index-dir", type=Path, help="index store to reuse (default: a temp dir)")
    parser.add_argument("--limit", type=int, help="first N tasks/instances per file")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="suite tasks in parallel")
    parser.add_argument("--test-timeout", type=float, default=2.0, help="seconds per test")
    parser.add_argument("--details", action="store_true", help="include per-task rows")
    args = parser.parse_args(argv)
    if args.rerank_every < 1:
        parser.error(f"--rerank-every must be at least 1, got {args.rerank_every}")
    if not args.suite and not args.swebench:
        parser.error("give --suite FILE and/or --swebench FILE")
    if args.swebench and args.repos is None:
        parser.error(
            "--swebench needs --repos DIR: a directory of git checkouts named owner__repo "
            "(e.g. sympy__sympy); this data set carries no repository content"
        )
    if args.repos is not None and not args.repos.is_dir():
        parser.error(f"--repos {args.repos} is not a directory")
    for name, path in (("--swebench", args.swebench), ("--exclude", args.exclude)):
        if path is not None and not path.is_file():
            parser.error(f"{name} {path} is not a file")
    reranker = None
    if args.rerank:
        from patchloop.config import Config
        from patchloop.errors import PatchloopError
        from patchloop.localize.rerank import ModelReranker
        from patchloop.models import build_model

        try:
            reranker = ModelReranker(build_model(args.rerank, Config().model))
        except PatchloopError as exc:
            parser.error(f"--rerank {args.rerank}: {exc}")
    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="localize-bench-index-"))
    factory, retrieval_note = retriever_factory(args.retriever, index_dir)
    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "retrieval": retrieval_note,
        "suites": [],
    }
    sandbox = make_sandbox()
    result["sandbox"] = sandbox.name
    for suite in args.suite:
        result["suites"].append(
            run_suite(
                suite,
                sandbox,
                factory,
                jobs=args.jobs,
                limit=args.limit,
                test_timeout=args.test_timeout,
                details=args.details,
            )
        )
    if args.swebench:
        import swe_localize

        try:
            instances = [
                i
                for i in swe_localize.iter_split(args.swebench, args.exclude)
                if not args.only_repo or i["repo"] in args.only_repo
            ][: args.limit]
        except ValueError as exc:
            parser.error(str(exc))
        work = args.work or index_dir / "work"
        swe = swe_localize.run(
            instances,
            args.repos,
            work,
            index_dir,
            dump=args.dump_features,
            progress=True,
            reranker=reranker,
            rerank_every=args.rerank_every,
        )
        if not args.details:
            swe.pop("rows")
        result["swebench"] = swe
    if args.index_dir is None:
        shutil.rmtree(index_dir, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
