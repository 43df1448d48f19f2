"""Where to look: suspicious locations from the failing tests, the task text and coverage."""

from __future__ import annotations

import time

from patchloop.domain import Location
from patchloop.errors import PatchloopError
from patchloop.planning.coverage import spectrum
from patchloop.planning.retrieval import open_retriever
from patchloop.protocols import Closeable, IndexedRetriever
from patchloop.session import RunSession
from patchloop.verify.guard import is_test_path

__all__ = ["LOCALIZER", "NEEDS_A_FAILING_TEST", "issue_context", "localize", "suspicious_lines"]

#: The registered localizer (:data:`patchloop.localize.localizers`) a run builds: every signal
#: fused.
LOCALIZER = "fused"


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
