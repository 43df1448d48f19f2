"""Turn a request into a job, or say what to fix: nothing is queued unless all of it is valid.

Checks, in order: sizes (413), the repository (allowed roots, reachable URL, existing ref), the
key's scopes (403), then every option the way the CLI checks it (422): model specs (and that
the server offers them), the edit format, the test command, budgets, the branch to write to,
and for a verification of a local tree, that the diff applies and leaves the tests alone.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
from pathlib import Path

from patchloop.errors import EditError, PayloadTooLarge, UsageError
from patchloop.service.jobs import IndexSpec, NewJob, RepairSpec, RepoSource, VerifySpec
from patchloop.service.keys import ApiKey
from patchloop.service.schemas import IndexRequest, RepairRequest, Repository, VerifyRequest
from patchloop.service.settings import ServiceSettings
from patchloop.service.sources import check_source

__all__ = ["admit_index", "admit_repair", "admit_verify"]


def _digest(kind: str, body: str) -> str:
    return hashlib.sha256(f"{kind}\0{body}".encode()).hexdigest()


def _check_tests(tests: list[str], settings: ServiceSettings) -> tuple[str, ...]:
    if len(tests) > settings.limits.tests:
        raise PayloadTooLarge(
            f"{len(tests)} tests named; this server takes at most {settings.limits.tests}",
            hint="name fewer tests, or none to target every failing test",
        )
    for test in tests:
        if not test.strip() or "\n" in test or test.startswith("-"):
            raise UsageError(f"invalid test id {test!r}", hint="send pytest node ids")
    return tuple(tests)


def _check_test_cmd(cmd: str | None) -> str | None:
    if cmd is None:
        return None
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise UsageError(f"cannot parse test_cmd {cmd!r}: {exc}") from exc
    if not argv:
        raise UsageError("test_cmd is empty", hint="e.g. 'python -m pytest', or leave it out")
    if argv[0] not in ("python", "python3") and shutil.which(argv[0]) is None:
        raise UsageError(
            f"test command not found on the server: {argv[0]}",
            hint="use 'python -m pytest' or a program on the server's PATH",
        )
    return cmd


def _check_models(models: list[str], settings: ServiceSettings) -> tuple[str, ...]:
    from patchloop.models import parse_spec

    for spec in models:
        parse_spec(spec)  # UsageError with the expected shape
        if spec not in settings.models:
            offered = ", ".join(settings.models) or "none (the model-free tier only)"
            raise UsageError(
                f"model {spec!r} is not offered by this server",
                hint=f"offered: {offered}",
            )
    return tuple(models)


def _check_edit_format(name: str | None) -> str | None:
    if name is None:
        return None
    from patchloop.edits import FORMATS
    from patchloop.edits.auto import AUTO

    if name not in (AUTO, *FORMATS.names()):
        raise UsageError(
            f"unknown edit format {name!r}",
            hint=f"valid: {', '.join((AUTO, *FORMATS.names()))}",
        )
    return name


def _source(repo: Repository, key: ApiKey, settings: ServiceSettings) -> RepoSource:
    source = check_source(
        repo.path,
        repo.url,
        repo.ref,
        roots=settings.allowed_roots,
        schemes=settings.git_schemes,
        timeout=settings.git_timeout_s,
    )
    key.require_repo(source.display)
    return source


def _timeout(asked: float | None, settings: ServiceSettings) -> float:
    if asked is not None and asked > settings.max_timeout_s:
        raise UsageError(
            f"timeout {asked:g}s is over this server's limit of {settings.max_timeout_s:g}s",
            hint="ask for less time",
        )
    return asked if asked is not None else min(settings.default_timeout_s, settings.max_timeout_s)


def admit_repair(
    request: RepairRequest, key: ApiKey, settings: ServiceSettings, idempotency_key: str | None
) -> NewJob:
    """The job for a repair request."""
    limits = settings.limits
    if len(request.task) > limits.task_chars:
        raise PayloadTooLarge(
            f"the task has {len(request.task)} characters; at most {limits.task_chars}",
            hint="describe the problem more briefly",
        )
    tests = _check_tests(request.tests, settings)
    source = _source(request.repository, key, settings)
    models = _check_models(request.models, settings)
    if request.samples > limits.samples:
        raise UsageError(
            f"samples={request.samples} is over this server's limit of {limits.samples}"
        )
    if request.samples > 1 and not models:
        raise UsageError(
            "samples > 1 needs a model: the model-free tier gives the same answer every time",
            hint="name a model, or send samples=1",
        )
    if not request.fixers and not models:
        raise UsageError(
            "no model is named and the model-free tier is off: nothing could repair",
            hint="name a model, or leave fixers on",
        )
    branch = request.apply_to_branch
    if branch is not None:
        if source.path is None or source.ref is not None:
            raise UsageError(
                "apply_to_branch needs a repository path without a ref",
                hint="the branch is created in that repository on top of its HEAD",
            )
        from patchloop.repo.snapshot import locate
        from patchloop.repo.writeback import check_branch

        check_branch(locate(Path(source.path)), branch)
    spec = RepairSpec(
        repo=source,
        task=request.task,
        tests=tests,
        test_cmd=_check_test_cmd(request.test_cmd),
        models=models,
        edit_format=_check_edit_format(request.edit_format),
        max_iterations=request.budgets.max_iterations,
        max_tokens=request.budgets.max_tokens,
        timeout=_timeout(request.budgets.timeout, settings),
        fixers=request.fixers,
        samples=request.samples,
        sampling=request.sampling,
        apply_to_branch=branch,
    )
    return NewJob(
        spec=spec,
        team=key.team,
        key_id=key.id,
        idempotency_key=idempotency_key,
        request_hash=_digest("repair", request.model_dump_json()),
    )


def admit_verify(
    request: VerifyRequest, key: ApiKey, settings: ServiceSettings, idempotency_key: str | None
) -> NewJob:
    """The job for a verification request."""
    size = len(request.diff.encode())
    if size > settings.limits.diff_bytes:
        raise PayloadTooLarge(
            f"the diff has {size} bytes; this server takes at most {settings.limits.diff_bytes}",
            hint="send a smaller diff",
        )
    if not request.diff.strip():
        raise UsageError("the diff is empty", hint="send a unified diff (git diff)")
    tests = _check_tests(request.tests, settings)
    source = _source(request.repository, key, settings)
    if source.path is not None and source.ref is None:
        _check_diff(Path(source.path), request.diff)
    spec = VerifySpec(
        repo=source,
        diff=request.diff,
        tests=tests,
        test_cmd=_check_test_cmd(request.test_cmd),
        timeout=_timeout(request.timeout, settings),
    )
    body = request.model_copy(update={"wait": True}).model_dump_json()
    return NewJob(
        spec=spec,
        team=key.team,
        key_id=key.id,
        idempotency_key=idempotency_key,
        request_hash=_digest("verify", body),
    )


def _check_diff(project: Path, diff: str) -> None:
    """The diff applies to the tree and passes the tamper guard (nothing is written)."""
    from patchloop.edits import apply_diff
    from patchloop.verify.guard import check_patch

    try:
        patch = apply_diff(project, diff, dry_run=True)
        check_patch(patch, allow_test_edits=False)
    except EditError as exc:
        raise UsageError(
            f"the diff cannot be verified: {exc.message}",
            hint="send a diff against the repository's current tree that leaves tests alone",
        ) from exc
    if patch.empty:
        raise UsageError("the diff changes nothing", hint="send a diff with changes")


def admit_index(
    request: IndexRequest, key: ApiKey, settings: ServiceSettings, idempotency_key: str | None
) -> NewJob:
    """The job that indexes a repository ref."""
    spec = IndexSpec(
        repo=_source(request.repository, key, settings),
        dense=request.dense,
        timeout=settings.max_timeout_s,
    )
    return NewJob(
        spec=spec,
        team=key.team,
        key_id=key.id,
        idempotency_key=idempotency_key,
        request_hash=_digest("index", request.model_dump_json()),
    )
