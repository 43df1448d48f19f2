"""``patchloop eval``: run the repair over a task suite and judge every fix independently."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from patchloop.cli.common import EXIT_NOT_FIXED, SamplingOption
from patchloop.config import Config, load_config
from patchloop.errors import UsageError
from patchloop.eval import (
    ERROR_LABELS,
    EvalSettings,
    SuiteProblem,
    TaskResult,
    render_summary,
    run_suite,
)
from patchloop.protocols import Closeable

__all__ = ["eval_suite"]


def _prepare(config: Config) -> Config:
    """Fail before any task on what would fail every task; resolve the sandbox once."""
    if config.fixers.enabled:
        try:
            from patchloop.fixers import get_fixer

            get_fixer("default")
        except ImportError as exc:
            raise UsageError(
                f"the model-free tier cannot be loaded: {exc}",
                hint="pass --no-fixers (and --model) to evaluate models only",
            ) from exc
    if config.models:
        from patchloop.planning import build_models

        for model in build_models(config):
            if isinstance(model, Closeable):
                model.close()
    if config.sandbox.kind == "auto":
        from patchloop.sandbox import sandbox_kind

        # Resolved here so that a fallback warning is printed once, not once per task.
        kind = sandbox_kind(config.sandbox)
        config = config.model_copy(
            update={"sandbox": config.sandbox.model_copy(update={"kind": kind})}
        )
    return config


class _Reporter:
    """One line per finished task on stderr."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.done = 0
        self.resolved = 0

    def problem(self, problem: SuiteProblem) -> None:
        where = f" ({problem.id})" if problem.id else ""
        self.console.print(
            f"patchloop: suite line {problem.line}{escape(where)}: {escape(problem.message)}"
            " - skipped",
            style="yellow",
            soft_wrap=True,
        )

    def result(self, result: TaskResult) -> None:
        self.done += 1
        self.resolved += int(result.resolved)
        if result.resolved:
            mark, how = "[green]resolved[/green]", f"by {result.fixed_by}"
        elif result.error:
            first = result.error_detail.splitlines()[:1]
            mark, how = f"[yellow]{result.error}[/yellow]", first[0][:100] if first else ""
        else:
            mark, how = "[red]unresolved[/red]", result.stop_reason
        self.console.print(
            f"[{self.done}] {mark} {escape(result.id)} {escape(str(how))} "
            f"({result.wall_s:.1f}s, {result.candidates} candidates, "
            f"{result.iterations} model calls)",
            highlight=False,
            soft_wrap=True,
        )


def eval_suite(
    suite: Annotated[Path, typer.Argument(help="Task suite (task-suite JSONL format).")],
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Model spec KIND:TARGET\\[#MODEL], cheapest first."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Tasks run in parallel.")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Append one JSON line per task to this file.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip the tasks that already have a line in --out.")
    ] = False,
    retry_errors: Annotated[
        bool,
        typer.Option(
            "--retry-errors",
            help="With --resume, run tasks labelled infra, crash or loop_error again.",
        ),
    ] = False,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="Only task ids matching this glob (repeatable)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    summary_file: Annotated[
        Path | None, typer.Option("--summary", help="Write the summary as JSON to this file.")
    ] = None,
    no_fixers: Annotated[
        bool, typer.Option("--no-fixers", help="Skip the model-free tier.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(help="Wall-clock budget per task in seconds.")
    ] = None,
    test_timeout: Annotated[
        float, typer.Option(help="Seconds one test may run (loop and harness).")
    ] = 5.0,
    edit_format: Annotated[
        str | None, typer.Option(help="auto, search-replace, json, udiff or whole.")
    ] = None,
    max_iterations: Annotated[int | None, typer.Option(help="Model calls per model tier.")] = None,
    samples: Annotated[
        int | None, typer.Option(help="Candidates per model call; the tests choose among them.")
    ] = None,
    sampling: SamplingOption = None,
    allow_test_edits: Annotated[
        bool | None,
        typer.Option(
            "--allow-test-edits",
            help="Let the loop change tests (the harness restores them before judging).",
        ),
    ] = None,
    name_tests: Annotated[
        bool,
        typer.Option("--name-tests", help="Tell the loop the fail_to_pass node ids."),
    ] = False,
    records: Annotated[
        Path | None, typer.Option(help="Keep each task's run record under this directory.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Config file to use.")] = None,
) -> int:
    """Repair every task of a suite; judge each final diff on a clean copy; summarize."""
    if retry_errors and not resume:
        raise UsageError("--retry-errors needs --resume")
    if resume and out is None:
        raise UsageError("--resume needs --out", hint="pass the results file of the earlier run")
    cli: dict[str, Any] = {
        "models": tuple(model) if model else None,
        "fixers.enabled": False if no_fixers else None,
        "timeout": timeout,
        "edit_format": edit_format,
        "max_iterations": max_iterations,
        "search.samples": samples,
        "search.sampling": sampling,
        "allow_test_edits": allow_test_edits,
    }
    settings = load_config(Path.cwd(), config_file=config, cli=cli).config
    eval_settings = EvalSettings(
        config=_prepare(settings),
        test_timeout=test_timeout,
        name_tests=name_tests,
        records_dir=records.resolve() if records is not None else None,
    )
    console = Console(file=sys.stderr, stderr=True, highlight=False)
    reporter = _Reporter(console, 0)
    try:
        # SIGTERM arrives as KeyboardInterrupt too (see run_app), which prints the error.
        run = run_suite(
            suite,
            eval_settings,
            workers=workers,
            out=out,
            resume=resume,
            retry_errors=retry_errors,
            filters=tuple(filters or ()),
            on_problem=reporter.problem,
            on_result=reporter.result,
        )
    except KeyboardInterrupt:
        where = f"; {out} holds the finished tasks (rerun with --resume)" if out else ""
        console.print(f"patchloop: interrupted{escape(where)}")
        raise
    data = run.summary.model_dump(mode="json")
    render_summary(run.summary, console)
    if run.summary.errors:
        for label in run.summary.errors:
            console.print(f"  {label}: {ERROR_LABELS.get(label, '')}", style="dim")
    if summary_file is not None:
        summary_file.parent.mkdir(parents=True, exist_ok=True)
        summary_file.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    return EXIT_NOT_FIXED if run.summary.verified_but_unresolved else 0
