"""``patchloop route``: show the intent and plan of a task; ``route train``: fit a new head."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from patchloop.cli.common import print_json
from patchloop.config import Config, load_config
from patchloop.domain import Task
from patchloop.errors import RepositoryError, UsageError

__all__ = ["app"]


class _DefaultToPlan(TyperGroup):
    """``patchloop route TEXT`` means ``patchloop route plan TEXT``."""

    # Any: the click Context type is private to typer's vendored click
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["plan", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultToPlan,
    help="Intent of a task and the plan of tiers it gets (patchloop route TEXT).",
    no_args_is_help=True,
)


def _config(repo: Path, config_file: Path | None, models: list[str] | None) -> Config:
    from patchloop.repo.snapshot import locate

    cli: dict[str, Any] = {"models": tuple(models) if models else None}
    try:
        where = locate(repo)
        project, git_root = where.project, where.git_root
    except RepositoryError:
        # routing needs no repository; a patchloop.toml next to the text still applies
        project, git_root = repo, None
    return load_config(project, git_root=git_root, config_file=config_file, cli=cli).config


def _check_spec(spec: str) -> None:
    """Reject a model spec that ``patchloop fix`` would reject, before planning a tier for it."""
    from patchloop.errors import UnknownComponent
    from patchloop.models import MODELS, parse_spec
    from patchloop.models.spec import EXAMPLE_SPEC

    parsed = parse_spec(spec)
    if parsed.kind not in MODELS.names() and "." not in parsed.kind:
        raise UnknownComponent(
            f"unknown model kind {parsed.kind!r} in {str(parsed)!r}",
            hint=f"valid kinds: {', '.join(MODELS.names())}; for example {EXAMPLE_SPEC!r}",
        )


@contextmanager
def _slow_notice(message: str, after_s: float = 2.0) -> Iterator[None]:
    """Say on stderr what is going on when the block takes longer than ``after_s``."""
    timer = threading.Timer(after_s, lambda: print(f"patchloop: {message}...", file=sys.stderr))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@app.command("plan")
def plan(
    text: Annotated[str, typer.Argument(help="The task, as it would be given to fix.")],
    test: Annotated[
        list[str] | None, typer.Option("--test", help="Failing test node id (repeatable).")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Model spec KIND:TARGET[#MODEL], cheapest first."),
    ] = None,
    repo: Annotated[Path, typer.Option(help="Project whose configuration applies.")] = Path(),
    config: Annotated[Path | None, typer.Option(help="Config file to use.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Print the intent, its confidence and the plan: tiers in order, each with its budget."""
    from patchloop.route import IntentRouter

    if not text.strip() and not test:
        raise UsageError(
            "nothing to route: the task text is empty",
            hint='describe the task, e.g. patchloop route "tests/test_cart.py fails"',
        )
    task = Task(repo=repo, description=text, tests=tuple(test or ()))
    settings = _config(repo, config, model)
    for spec in settings.models:
        _check_spec(spec)
    router = IntentRouter(settings)
    with _slow_notice("loading the intent model (its first use exports the embedding graph)"):
        decision = router.decide(task, explain=True)
    if as_json:
        print_json(decision.model_dump(mode="json"))
        return 0
    out = sys.stdout
    out.write(
        f"intent: {decision.intent} (confidence {decision.confidence:.2f}, {decision.basis})\n"
    )
    if decision.policy != decision.intent:
        out.write(f"policy: {decision.policy}\n")
    if decision.note:
        out.write(f"note: {decision.note}\n")
    out.write("plan (the next tier runs only when the previous one verified no fix):\n")
    for n, tier in enumerate(decision.plan.tiers, start=1):
        unit = "candidates" if tier.kind == "fixers" else "iterations"
        budget = f"{tier.max_iterations} {unit}"
        if tier.max_seconds is not None:
            budget += f", {tier.max_seconds:g} s"
        if tier.adapter:
            budget += f", adapter {tier.adapter}"
        out.write(f"  {n}. {tier.name}: {budget}\n")
    top = sorted(decision.probabilities.items(), key=lambda kv: -kv[1])[:3]
    if top:
        out.write("likely: " + ", ".join(f"{i} {p:.2f}" for i, p in top) + "\n")
    return 0


@app.command("train")
def train(
    data: Annotated[Path, typer.Argument(help='JSONL, one {"text": ..., "intent": ...} a line.')],
    out: Annotated[Path, typer.Option(help="Where to write the head (JSON).")] = Path(
        "intent-head.json"
    ),
    c: Annotated[float | None, typer.Option("--c", help="Inverse regularisation strength.")] = None,
    repo: Annotated[Path, typer.Option(help="Project whose configuration applies.")] = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Fit a classifier head on labelled examples; use it with route.head = OUT."""
    from patchloop.route.settings import route_settings
    from patchloop.route.train import DEFAULT_C, train_file

    settings = route_settings(_config(repo, None, None))
    with _slow_notice(f"embedding the examples of {data} and fitting the head"):
        head = train_file(data, out, settings, c=DEFAULT_C if c is None else c)
    summary = {
        "out": str(out),
        "classes": list(head.classes),
        "embedding_model": head.embedding_model,
        **head.training,
    }
    if as_json:
        print_json(summary)
    else:
        print(
            f"trained on {head.training['examples']} examples of {len(head.classes)} intents "
            f"({', '.join(head.classes)}); wrote {out}\n"
            f"use it with: route.head = {json.dumps(str(out.resolve()))}"
        )
    return 0
