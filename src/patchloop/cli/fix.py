"""``patchloop fix``: repair a task and print the verified diff."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from patchloop.cli.common import (
    EXIT_NOT_FIXED,
    EXIT_NOTHING,
    EXIT_USAGE,
    EXIT_VERIFIED,
    SamplingOption,
    print_error,
    print_json,
    resolve,
)
from patchloop.cli.progress import Progress
from patchloop.domain import Patch, RunRecord, Task
from patchloop.errors import PatchloopError, UsageError
from patchloop.loop import repair
from patchloop.repo.snapshot import Located
from patchloop.repo.writeback import (
    apply_to_tree,
    check_branch,
    commit_to_branch,
    git_parent,
    head_commit,
    patch_from_diff,
    tree_unchanged,
)
from patchloop.store.redact import scrub

__all__ = ["fix", "summary"]


def test_argv(cmd: str) -> tuple[str, ...]:
    """Split the test command and check its program exists."""
    try:
        argv = tuple(shlex.split(cmd))
    except ValueError as exc:
        raise UsageError(f"cannot parse the test command {cmd!r}: {exc}") from exc
    if not argv:
        raise UsageError("the test command is empty", hint="pass --test-cmd 'python -m pytest'")
    program = argv[0]
    if program not in ("python", "python3") and shutil.which(program) is None:
        raise UsageError(
            f"test command not found: {program}",
            hint="pass --test-cmd with a program on PATH, e.g. 'python -m pytest'",
        )
    return argv


def summary(record: RunRecord, record_dir: Path) -> dict[str, Any]:
    """The run summary printed by ``--json``."""
    tiers: dict[str, int] = {}
    for attempt in record.attempts:
        tiers[attempt.tier] = tiers.get(attempt.tier, 0) + 1
    winner = next((a for a in record.attempts if a.status == "verified"), None)
    return {
        "run_id": record.id,
        "status": record.status,
        "verified": record.verified,
        "stop_reason": record.stop_reason,
        "diff": record.diff,
        "fixed_by": winner.tier if winner else None,
        "label": winner.label if winner else None,
        "targets": list(record.targets),
        "flaky": list(record.flaky),
        "attempts": len(record.attempts),
        "attempts_per_tier": tiers,
        "best_attempt": record.best_attempt,
        "candidates": record.candidates().model_dump(),
        "usage": record.usage.model_dump(),
        "sandbox_s": record.sandbox_s,
        "wall_s": record.wall_s,
        "timings": record.timings,
        "baseline_reused": record.baseline_reused,
        "record_dir": str(record_dir),
        "error": record.error,
    }


def _write_back(where: Located, record: RunRecord, apply: bool, branch: str | None) -> str:
    info = record.snapshot
    if info is None:
        return ""
    if apply:
        written = apply_to_tree(where, info, patch_from_diff(where, record.diff))
        return f"applied to {len(written)} file(s): {', '.join(written)}"
    assert branch is not None
    # The files as they were verified: the working tree while it still is the snapshot, else
    # the snapshot's HEAD (a diff that needed uncommitted changes does not apply there).
    at = None if tree_unchanged(where, info) else info.head
    patch: Patch = patch_from_diff(where, record.diff, at=at)
    message = f"patchloop: fix {', '.join(record.targets)[:200]}"
    commit = commit_to_branch(where, info, patch, branch, message)
    note = f"committed {commit[:12]} on new branch {branch} (git switch {branch})"
    head = head_commit(where)
    if info.head is not None and head is not None and git_parent(where, commit) != info.head:
        note += f"; HEAD moved during the run, the change was rebased onto {head[:12]}"
    return note


def fix(
    task: Annotated[str, typer.Argument(help="What is wrong, in plain words (optional).")] = "",
    repo: Annotated[Path, typer.Option(help="Project directory inside a git work tree.")] = Path(),
    test: Annotated[
        list[str] | None, typer.Option("--test", help="Failing test node id (repeatable).")
    ] = None,
    test_cmd: Annotated[
        str | None, typer.Option(help="Test command; default: python -m pytest.")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Model spec KIND:TARGET\\[#MODEL], cheapest first."),
    ] = None,
    edit_format: Annotated[
        str | None, typer.Option(help="auto, search-replace, json, udiff or whole.")
    ] = None,
    max_iterations: Annotated[int | None, typer.Option(help="Model calls per model tier.")] = None,
    samples: Annotated[
        int | None, typer.Option(help="Candidates per model call; the tests choose among them.")
    ] = None,
    sampling: SamplingOption = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Candidates verified at once, each in its own sandbox copy."),
    ] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Token budget of the run.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock budget in seconds.")] = None,
    allow_test_edits: Annotated[
        bool | None, typer.Option("--allow-test-edits", help="Let patches change tests.")
    ] = None,
    no_fixers: Annotated[
        bool, typer.Option("--no-fixers", help="Skip the model-free tier.")
    ] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="Write the verified diff into the work tree.")
    ] = False,
    branch: Annotated[
        str | None, typer.Option(help="Commit the verified diff on a new branch.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the run summary.")] = False,
    config: Annotated[Path | None, typer.Option(help="Config file to use.")] = None,
) -> int:
    """Repair the failing tests of a repository; print the verified diff."""
    if apply and branch:
        raise UsageError("--apply and --branch exclude each other", hint="pick one")
    cli = {
        "tests.cmd": test_cmd,
        "models": tuple(model) if model else None,
        "edit_format": edit_format,
        "max_iterations": max_iterations,
        "search.samples": samples,
        "search.sampling": sampling,
        "search.workers": workers,
        "max_tokens": max_tokens,
        "timeout": timeout,
        "allow_test_edits": allow_test_edits,
        "fixers.enabled": False if no_fixers else None,
    }
    where, resolved = resolve(repo, config, cli)
    settings = resolved.config
    if branch:
        check_branch(where, branch)  # before the run, not after it
    the_task = Task(
        repo=where.project,
        description=task,
        tests=tuple(test or ()),
        test_cmd=test_argv(settings.tests.cmd),
        allow_test_edits=settings.allow_test_edits,
    )
    with Progress(mode="json" if as_json else "auto") as progress:
        record = repair(the_task, settings, on_event=progress.on_event)
    record_dir = where.project / settings.state_dir / "runs" / record.id
    note = ""
    if record.verified and (apply or branch):
        try:
            note = _write_back(where, record, apply, branch)
        except PatchloopError as exc:
            # The fix is verified: keep it in hand (the diff, the record) even though it could
            # not be written back; exit 2 whatever refused it.
            if not as_json:
                _report(record, record_dir, "")
            print_error(exc)
            if as_json:
                print_json({**summary(record, record_dir), "write_back_error": exc.message})
            return EXIT_USAGE
    if as_json:
        data = summary(record, record_dir)
        data["write_back"] = note or None
        print_json(data)
    else:
        _report(record, record_dir, note)
    if record.status == "nothing_to_fix":
        return EXIT_NOTHING
    if record.status == "error":
        return EXIT_USAGE
    return EXIT_VERIFIED if record.verified else EXIT_NOT_FIXED


def _report(record: RunRecord, record_dir: Path, note: str) -> None:
    err = sys.stderr
    if record.status == "nothing_to_fix":
        print(f"patchloop: {record.error}", file=err)
        return
    if record.verified:
        sys.stdout.write(record.diff)
        winner = next(a for a in record.attempts if a.status == "verified")
        print(
            f"patchloop: verified fix by {scrub(winner.tier)} after "
            f"{len(record.attempts)} attempt(s) "
            f"in {record.wall_s:.1f}s ({record.usage.total:,} tokens, "
            f"{record.sandbox_s:.1f}s in the sandbox)",
            file=err,
        )
        if note:
            print(f"patchloop: {note}", file=err)
        _report_candidates(record)
    else:
        print(
            f"patchloop: not fixed ({record.stop_reason}) after {len(record.attempts)} attempt(s)",
            file=err,
        )
        if record.diff:
            print("patchloop: best attempt (NOT verified):", file=err)
            err.write(record.diff)
        _report_candidates(record)
    print(f"patchloop: run record: {record_dir}", file=err)


def _report_candidates(record: RunRecord) -> None:
    """One line on the candidates when iterations asked for several."""
    counts = record.candidates()
    iterations = len({(a.tier, a.iteration) for a in record.attempts if a.sample is not None})
    if counts.generated > iterations:
        print(
            f"patchloop: {counts.generated} candidates, {counts.unique} distinct patches, "
            f"{counts.verified} verified",
            file=sys.stderr,
        )
