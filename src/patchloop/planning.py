"""From configuration to tiers: the default plan, localization and the prompt layout."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from patchloop.config import Config
from patchloop.context.layout import ContextFile, PromptLayout, Turn
from patchloop.context.select import choose_files
from patchloop.domain import Location, Plan, ScopeFile, TierPlan
from patchloop.errors import PatchloopError, UsageError
from patchloop.protocols import (
    Closeable,
    ContextWindow,
    EditFormat,
    IndexedRetriever,
    Model,
    Retriever,
    SizedModel,
)
from patchloop.session import RunSession
from patchloop.tiers import FixerTier, ModelTier, Tier
from patchloop.verify.feedback import render_failures
from patchloop.verify.guard import is_test_path

if TYPE_CHECKING:
    from patchloop.localize import CoverageMap

__all__ = ["NEEDS_A_FAILING_TEST", "build_models", "build_tiers", "default_plan", "issue_context"]

#: The registered localizer (:data:`patchloop.localize.localizers`) and fixer
#: (:data:`patchloop.fixers.fixers`) a run builds: every signal fused, every fixer chained.
LOCALIZER = "fused"
FIXER = "default"

#: What the lexical code index needs at run time (the ``index`` extra).
INDEX_MODULES = ("bm25s", "tree_sitter_language_pack")

NO_MODEL_HINT = (
    "pass --model KIND:TARGET[#MODEL] (e.g. openai:http://127.0.0.1:8000/v1#qwen2.5-coder-7b) "
    "or set models in patchloop.toml, or enable the model-free tier (fixers.enabled = true)"
)


def default_plan(config: Config, model_names: Sequence[str]) -> Plan:
    """Fixers first (when enabled), then each model in the order given (cheapest first)."""
    tiers: list[TierPlan] = []
    if config.fixers.enabled:
        tiers.append(
            TierPlan(
                name="fixers",
                kind="fixers",
                max_iterations=config.fixers.max_candidates,
                max_seconds=config.fixers.max_seconds,
            )
        )
    tiers += [
        TierPlan(name=name, kind="model", max_iterations=config.max_iterations)
        for name in model_names
    ]
    if not tiers:
        raise UsageError(
            "no model is configured and the model-free tier is off", hint=NO_MODEL_HINT
        )
    return Plan(tiers=tuple(tiers), intent="default")


def build_models(config: Config) -> list[Model]:
    """Models of ``config.models``, in order; unknown specs and unreachable servers fail here,
    before any work."""
    from patchloop.models import build_model, parse_spec

    models = []
    for spec in config.models:
        model = build_model(spec, config.model)
        target = parse_spec(spec).target
        if target.startswith(("http://", "https://")):
            _preflight(spec, target)
        models.append(model)
    return models


def _preflight(spec: str, url: str) -> None:
    """Fail fast on a server that is not listening; any HTTP answer will do."""
    import httpx

    try:
        httpx.get(url, timeout=5.0)
    except httpx.HTTPError as exc:
        raise UsageError(
            f"cannot reach the model server of {spec!r}: {type(exc).__name__}: {exc}",
            hint="start the server, or fix the URL in --model / models",
        ) from exc


def spectrum(run: RunSession) -> CoverageMap | None:
    """Per-test coverage of the snapshot, for spectrum-based localization; ``None`` if the
    suite is too slow to run twice or coverage cannot be recorded."""
    from patchloop.localize import collect_coverage

    report = run.baseline_report
    assert report is not None
    if report.duration_s > run.config.context.coverage_max_s:
        run.emit("localize.note", "suite too slow for a coverage run; no SBFL")
        return None
    t0 = time.monotonic()
    runner_limits = run.limits(wall_s=run.config.tests.timeout)
    try:
        with run.sandbox.workspace(run.snapshot.template) as workspace:
            return collect_coverage(
                run.sandbox,
                workspace,
                run.task.test_cmd,
                limits=runner_limits,
                python=sys.executable,
                test_timeout=run.config.tests.per_test_timeout,
            )
    except PatchloopError as exc:
        run.emit("localize.note", f"no coverage: {exc.message}")
        return None
    finally:
        elapsed = time.monotonic() - t0
        run.sandbox_s += elapsed
        run.spend("coverage", elapsed)


def open_retriever(run: RunSession) -> Retriever | None:
    """The code index over the project, when the task has words to search for and the index
    extra is installed (``context.retriever`` chooses lexical, hybrid or none)."""
    kind = run.config.context.retriever
    if kind == "none" or not run.task.description.strip():
        return None
    missing = [m for m in INDEX_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        run.emit("localize.note", f"no code index: install patchloop[index] ({missing[0]})")
        return None
    from patchloop import index

    try:
        store = run.config.index.dir
        project = Path(run.snapshot.info.root).resolve()
        return index.retrievers.resolve(kind)(
            project, store_dir=Path(store) if store else None, scope=index.project_scope(project)
        )
    except PatchloopError as exc:
        run.emit("localize.note", f"no code index: {exc.message}")
        return None


def localize(run: RunSession) -> list[Location]:
    """Suspicious locations outside test files, most suspicious first."""
    from patchloop.localize import localizers

    assert run.baseline_report is not None
    run.coverage = spectrum(run)
    t0 = time.monotonic()
    retriever = open_retriever(run)
    localizer = localizers.resolve(LOCALIZER)(
        coverage=run.coverage, retriever=retriever, retrieval_k=run.config.context.retrieval_k
    )
    try:
        found = localizer.localize(run.task, run.baseline_report, run.snapshot.template, k=50)
    finally:
        if isinstance(retriever, Closeable):
            retriever.close()  # the index's database connection
    locations = [loc for loc in found if not is_test_path(loc.path)]
    run.spend("localize", time.monotonic() - t0)
    run.emit(
        "localize",
        f"{len(locations)} locations",
        locations=len(locations),
        top=f"{locations[0].path}:{locations[0].start_line}" if locations else None,
    )
    return locations


#: What a run with only an issue text (no failing test yet) needs before it can verify a fix.
NEEDS_A_FAILING_TEST = (
    "no test fails yet, so no fix can be verified: name a test that shows the issue "
    "(--test NODEID), or a test command whose run fails on it (--test-cmd)"
)


def issue_context(run: RunSession, k: int = 20) -> list[Location]:
    """Where the task's words point when no test fails yet: the issue ranking's definitions
    (files, then functions, through the code index), outside test files, best first.

    The same ranking joins :func:`localize` as the signal ``issue`` once tests fail; alone it
    chooses the prompt context of a run that has an issue text but nothing to verify against
    (see :data:`NEEDS_A_FAILING_TEST`).
    """
    retriever = open_retriever(run)
    if retriever is None:
        return []
    from patchloop.localize.issue_report import issue_locations, rank_issue

    t0 = time.monotonic()
    try:
        if not isinstance(retriever, IndexedRetriever):
            return []
        ranking = rank_issue(retriever.view(), run.task.description, scope=retriever.scope, k=k)
    except PatchloopError as exc:
        run.emit("localize.note", f"no issue ranking: {exc.message}")
        return []
    finally:
        run.spend("localize", time.monotonic() - t0)
        if isinstance(retriever, Closeable):
            retriever.close()
    locations = [loc for loc in issue_locations(ranking) if not is_test_path(loc.path)]
    run.emit(
        "localize",
        f"{len(locations)} locations from the task text; {NEEDS_A_FAILING_TEST}",
        locations=len(locations),
        top=f"{locations[0].path}:{locations[0].start_line}" if locations else None,
    )
    return locations


def suspicious_lines(run: RunSession, k: int = 30) -> list[Location]:
    """The most suspicious single lines by SBFL: inside a located function they tell the
    model-free tier where to mutate first."""
    if run.coverage is None:
        return []
    from patchloop.localize import ochiai

    lines = ochiai(run.coverage, run.targets, root=run.snapshot.template, level="line")
    return [loc for loc in lines if not is_test_path(loc.path)][:k]


def _format_for(run: RunSession, model: Model, files: Sequence[ContextFile]) -> EditFormat:
    """The edit format this model is asked in: the configured one, or under ``auto`` whole
    files for a small model when every file it may edit is short (see :mod:`edits.auto`)."""
    from patchloop.edits import get_format
    from patchloop.edits.auto import resolve_format

    editable = [
        ScopeFile(path=f.path, text=f.text, spans=f.spans)
        for f in files
        if run.task.allow_test_edits or not is_test_path(f.path)
    ]
    parameters = model.parameters if isinstance(model, SizedModel) else None
    name = resolve_format(run.config.edit_format, parameters, editable)
    return run.format if name == run.format.name else get_format(name)


def _layout(
    run: RunSession, model: Model, locations: Sequence[Location]
) -> tuple[PromptLayout, EditFormat]:
    assert run.baseline_report is not None
    t0 = time.monotonic()
    settings = run.config.context
    # A model that knows its context window (``context_size``, optional on the Model seam)
    # holds prompt and reply in it: the prompt budget leaves room for the reply (at most a
    # quarter of the window; replies are bounded by the files they may edit) and for the chat
    # template's tokens, which count_tokens does not see.
    window = model.context_size if isinstance(model, ContextWindow) else None
    if window is not None and window > 0:
        reply = min(run.config.model.max_output_tokens, window // 4)
        fits = max(1, window - reply - window // 32)
        if fits < settings.max_tokens:
            settings = settings.model_copy(update={"max_tokens": fits})
    from patchloop.context.layout import SYSTEM_RULES
    from patchloop.context.relocalize import FileSource
    from patchloop.context.repomap import build_repo_map, repo_map_budget

    failures = render_failures(run.baseline_report, run.targets, root=run.snapshot.template)
    instructions = run.format.instructions()
    # Files get three quarters of what the fixed sections leave; the rest is for the history.
    fixed = sum(
        model.count_tokens(text) for text in (SYSTEM_RULES, instructions, run.task.description)
    )
    fixed += model.count_tokens(failures) + repo_map_budget(settings)
    test_files = sorted({nodeid.split("::")[0] for nodeid in run.targets})
    files = choose_files(
        run.snapshot.template,
        locations=locations,
        test_files=test_files,
        count_tokens=model.count_tokens,
        max_tokens=max(0, settings.max_tokens - fixed) * 3 // 4,
        max_file_tokens=settings.max_file_tokens,
    )
    repo_map = build_repo_map(
        Path(run.snapshot.info.root),
        run.snapshot.files,
        shown=[f.path for f in files if not f.spans],
        focus=f"{run.task.description}\n{failures}",
        budget_tokens=repo_map_budget(settings),
        store_dir=Path(run.config.index.dir) if run.config.index.dir else None,
    )
    if repo_map.note:
        run.emit("context.note", repo_map.note)
    chosen = _format_for(run, model, files)
    layout = PromptLayout(
        instructions=chosen.instructions(),
        files=files,
        task=run.task.description,
        failures=failures,
        count_tokens=model.count_tokens,
        max_tokens=settings.max_tokens,
        repo_map=repo_map.text,
        source=FileSource.of(
            run.snapshot.template, run.snapshot.files, max_file_tokens=settings.max_file_tokens
        ),
    )
    run.spend("context", time.monotonic() - t0)
    run.emit(
        "context",
        f"{len(files)} files in the prompt, edits as {chosen.name}",
        files=len(files),
        repo_map_chars=len(repo_map.text),
        edit_format=chosen.name,
    )
    return layout, chosen


def route(run: RunSession, models: Sequence[Model]) -> Plan:
    """The plan for this task: by its intent when a router decides, else every tier."""
    from patchloop.route import IntentRouter

    t0 = time.monotonic()
    decision = IntentRouter(run.config, model_names=[m.name for m in models]).decide(run.task)
    run.spend("route", time.monotonic() - t0)
    tiers = ", ".join(t.name for t in decision.plan.tiers)
    run.emit(
        "route",
        f"intent {decision.intent} ({decision.basis}, {decision.confidence:.2f}): {tiers}",
        intent=decision.intent,
        confidence=round(decision.confidence, 4),
        basis=decision.basis,
    )
    return decision.plan


def build_tiers(
    run: RunSession, models: Sequence[Model], plan: Plan | None = None
) -> Iterator[Tier]:
    """Tiers of the plan, built lazily: a later tier costs nothing if an earlier one wins."""
    run.repair_plan = plan or route(run, models)
    if not run.repair_plan.tiers:
        return
    locations = localize(run)
    by_name = {m.name: m for m in models}
    history: list[Turn] = []
    for tier_plan in run.repair_plan.tiers:
        if tier_plan.kind == "fixers":
            from patchloop.fixers import get_fixer

            fixer = get_fixer(FIXER)
            spots = [*locations, *suspicious_lines(run)]
            yield FixerTier(tier_plan, fixer, run.task, spots, run.snapshot.template)
            continue
        model = by_name[tier_plan.name]
        layout, edit_format = _layout(run, model, locations)
        yield ModelTier(
            tier_plan,
            model,
            edit_format,
            layout,
            run.config,
            history=history,
            cache_key=run.run_id,
            allow_test_edits=run.task.allow_test_edits,
        )
