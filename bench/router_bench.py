"""Intent router quality and speed: cross-validated accuracy and per-task routing latency.

Prints JSON:

    cv: held-out accuracy and macro-F1 of the logistic-regression head on the shipped data set,
        by stratified k-fold cross-validation (embeddings computed once; a fold's head never
        sees its test examples), with per-intent F1 and the most frequent confusions;
        ``c_grid`` the same for other regularisation strengths when asked (``--c``)
    latency_ms: time of ``IntentRouter.decide`` per task (condense, embed, head, plan) over the
        data set's texts after the model is loaded: p50, p95, mean, max; target p50 and
        p95 <= 20 ms. ``cpu_ms``: the same in CPU time of the routing thread, which a busy
        machine does not inflate; ``load_average`` before and after says how busy it was
    load_s: loading the shipped head and the embedding model

    python bench/router_bench.py [--folds 5] [--c 1 4 8 16] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from patchloop.config import Config
from patchloop.domain import Task
from patchloop.route import IntentRouter, RouteSettings, load_classifier, plan_for, read_examples
from patchloop.route.dataset import SHIPPED_DATA
from patchloop.route.train import DEFAULT_C, bulk_embedder, embed_examples, fit_logistic


def cross_validate(vectors: Any, labels: list[str], folds: int, c: float) -> dict[str, Any]:
    """Held-out predictions of every example, scored."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score  # type: ignore[import-untyped]
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    y = np.array(labels)
    predicted = np.empty_like(y)
    confidence = np.zeros(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    fold_acc = []
    for train, test in splitter.split(vectors, y):
        model = fit_logistic(vectors[train], list(y[train]), c=c)
        predicted[test] = model.predict(vectors[test])
        confidence[test] = model.predict_proba(vectors[test]).max(axis=1)
        fold_acc.append(float(accuracy_score(y[test], predicted[test])))
    intents = sorted(set(labels))
    per_intent = f1_score(y, predicted, labels=intents, average=None)
    confusions = Counter(
        f"{truth}->{guess}" for truth, guess in zip(y, predicted, strict=True) if truth != guess
    )
    return {
        "C": c,
        "folds": folds,
        "accuracy": round(float(accuracy_score(y, predicted)), 4),
        "accuracy_fold_min": round(min(fold_acc), 4),
        "accuracy_fold_max": round(max(fold_acc), 4),
        "macro_f1": round(float(f1_score(y, predicted, average="macro")), 4),
        "f1_per_intent": {i: round(float(f), 3) for i, f in zip(intents, per_intent, strict=True)},
        "top_confusions": dict(confusions.most_common(8)),
        "routing": routing_quality(list(y), list(predicted), list(confidence)),
    }


def _spends_less(routed: Any, wanted: Any) -> bool:
    """Whether plan ``routed`` lacks a tier of ``wanted`` or gives one a smaller budget."""
    got = {t.name: t for t in routed}
    for tier in wanted:
        mine = got.get(tier.name)
        if mine is None or mine.max_iterations < tier.max_iterations:
            return True
        if tier.max_seconds is None and mine.max_seconds is not None:
            return True
        if None not in (tier.max_seconds, mine.max_seconds) and mine.max_seconds < tier.max_seconds:
            return True
    return False


def routing_quality(truth: list[str], guess: list[str], confidence: list[float]) -> dict[str, Any]:
    """Plans, not labels, are what routing spends: how often the held-out prediction gives the
    plan the true intent would get (two models configured), and how often a plan spends less
    than the true intent's (a tier or budget missing), without and with the fallback to the
    default plan below ``min_confidence``."""
    settings = RouteSettings()
    config = Config(models=("scripted:small", "scripted:large"))
    names = config.models

    def tiers(intent: str, policy: str | None = None) -> Any:
        return plan_for(intent, config, names, settings, policy_name=policy).tiers

    result: dict[str, Any] = {"min_confidence": settings.min_confidence}
    for threshold in sorted({0.0, 0.3, settings.min_confidence, 0.5}):
        routed = [
            tiers(g) if c >= threshold else tiers(g, "default")
            for g, c in zip(guess, confidence, strict=True)
        ]
        wanted = [tiers(t) for t in truth]
        n = len(truth)
        result[f"threshold_{threshold:g}"] = {
            "share_confident": round(sum(c >= threshold for c in confidence) / n, 4),
            "same_plan": round(sum(r == w for r, w in zip(routed, wanted, strict=True)) / n, 4),
            "spends_less": round(
                sum(_spends_less(r, w) for r, w in zip(routed, wanted, strict=True)) / n, 4
            ),
        }
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(texts: list[str], repeat: int) -> dict[str, Any]:
    """Per-task decision time with a loaded model, two models configured (so it classifies)."""
    settings = RouteSettings()
    started = time.perf_counter()
    classifier = load_classifier(settings)
    classifier.classify("warm up the session")
    load_s = time.perf_counter() - started
    config = Config(models=("scripted:small", "scripted:large"))
    router = IntentRouter(config, settings=settings, classifier=classifier)
    times: list[float] = []
    cpu: list[float] = []
    load_before = os.getloadavg()[0]
    for _ in range(repeat):
        for text in texts:
            task = Task(repo=Path(), description=text)
            t0, c0 = time.perf_counter(), time.thread_time()
            router.decide(task)
            cpu.append((time.thread_time() - c0) * 1000)
            times.append((time.perf_counter() - t0) * 1000)
    return {
        "load_s": round(load_s, 2),
        "backend": classifier.embedder.backend,
        "latency_ms": summarize(times) | {"target": 20.0},
        # CPU time of the routing thread (ONNX Runtime runs in it with one thread): what the
        # wall time would be on an idle core
        "cpu_ms": summarize(cpu),
        "cores": os.cpu_count(),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def summarize(values: list[float]) -> dict[str, float]:
    """Count, p50, p95, mean and max of milliseconds."""
    return {
        "tasks": len(values),
        "p50": round(percentile(values, 0.5), 2),
        "p95": round(percentile(values, 0.95), 2),
        "mean": round(statistics.fmean(values), 2),
        "max": round(max(values), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHIPPED_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--c", type=float, nargs="*", default=[], help="extra C values to score")
    parser.add_argument("--repeat", type=int, default=1, help="passes over the texts for latency")
    args = parser.parse_args()
    examples = read_examples(args.data)
    labels = [e.intent for e in examples]
    t0 = time.perf_counter()
    vectors = embed_examples(examples, bulk_embedder(RouteSettings()))
    embed_s = time.perf_counter() - t0
    result: dict[str, Any] = {
        "data": str(args.data),
        "examples": len(examples),
        "intents": dict(sorted(Counter(labels).items())),
        "embed_all_s": round(embed_s, 2),
        "cv": cross_validate(vectors, labels, args.folds, DEFAULT_C),
    }
    if args.c:
        result["c_grid"] = {
            str(c): {
                k: v
                for k, v in cross_validate(vectors, labels, args.folds, c).items()
                if k in ("accuracy", "macro_f1")
            }
            for c in args.c
        }
    result.update(latency([e.text for e in examples], args.repeat))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
