"""``patchloop serve``: run the repair service; ``serve keys``: its API keys; ``serve prune``:
its job log's retention; ``submit``: the CLI as a client of a running service."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from patchloop.cli.common import print_json
from patchloop.errors import UsageError

if TYPE_CHECKING:
    from patchloop.service.keys import Keys

__all__ = ["app", "submit"]

app = typer.Typer(
    help="Run repair as a service: HTTP API, durable queue, worker processes.",
    invoke_without_command=True,
    no_args_is_help=False,
)
#: Seconds a stopping server gives open connections (event streams) before closing them.
GRACEFUL_S = 5

keys_app = typer.Typer(help="API keys per team (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Server settings file (the \\[service] table).")
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Database, run records and scratch clones.")
]
KeysQueueOpt = Annotated[
    str | None,
    typer.Option(
        "--queue-url",
        help="postgresql://USER@HOST/DB: the keys of the queue in PostgreSQL (default: SQLite).",
    ),
]


def _settings(config: Path | None, overrides: dict[str, Any]) -> Any:
    try:
        from patchloop.service.settings import load_service_settings
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise UsageError(
            f"the service needs the 'service' extra ({exc.name} is missing)",
            hint="pip install 'patchloop[service]'",
        ) from exc
    return load_service_settings(config, overrides)


@contextmanager
def _keys(config: Path | None, data_dir: Path | None, queue_url: str | None) -> Iterator[Keys]:
    """The key store of the queue's database (``ConfigError`` when it cannot be reached)."""
    from patchloop.service.keys import keys_for

    store = keys_for(_settings(config, {"data_dir": data_dir, "queue_url": queue_url}))
    try:
        yield store
    finally:
        store.close()


@app.callback()
def serve(
    ctx: typer.Context,
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    data_dir: DataDirOpt = None,
    queue_url: Annotated[
        str | None,
        typer.Option(
            "--queue-url",
            help="postgresql://USER@HOST/DB: the job queue in PostgreSQL (default: SQLite).",
        ),
    ] = None,
    allowed_root: Annotated[
        list[Path] | None,
        typer.Option("--allowed-root", help="Directory whose repositories may be named (repeat)."),
    ] = None,
) -> None:
    """Serve the API (OpenAPI at /docs) with its worker processes until interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(
        config,
        {
            "host": host,
            "port": port,
            "workers": workers,
            "data_dir": data_dir,
            "queue_url": queue_url,
            "allowed_roots": tuple(p.resolve() for p in allowed_root) if allowed_root else None,
        },
    )
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise UsageError(
            "the service needs the 'service' extra", hint="pip install 'patchloop[service]'"
        ) from exc
    from patchloop.service import create_app
    from patchloop.service.backend import describe_store

    application = create_app(settings)
    print(
        f"patchloop: serving on http://{settings.host}:{settings.port} (API docs at /docs), "
        f"{settings.workers} worker(s), data in {settings.data_dir}, "
        f"jobs in {describe_store(settings)}",
        file=sys.stderr,
    )
    if not application.state.service.keys.all():
        print(
            "patchloop: no API keys yet; every request will be refused until one is added "
            "(patchloop serve keys add --team T --scope 'repo:*')",
            file=sys.stderr,
        )
    # Open event streams must not hold a stop (SIGTERM) for longer than a few seconds.
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_S,
    )


@keys_app.command("add")
def keys_add(
    team: Annotated[str, typer.Option(help="Team the key belongs to.")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="repo:PATTERN the key may name (repeat).")
    ],
    note: Annotated[str, typer.Option(help="Free text (who, what for).")] = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    queue_url: KeysQueueOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key as JSON.")] = False,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    with _keys(config, data_dir, queue_url) as store:
        created = store.add(team, scope, note)
    if as_json:
        print_json({"token": created.token, **created.key.model_dump()})
        return
    print(created.token)
    print(
        f"patchloop: key {created.key.id} for team {team} ({', '.join(created.key.scopes)}); "
        "it is shown only now",
        file=sys.stderr,
    )


@keys_app.command("list")
def keys_list(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    queue_url: KeysQueueOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every key: id, team, scopes, revoked or not (never the secret)."""
    with _keys(config, data_dir, queue_url) as store:
        keys = store.all()
    if as_json:
        print_json([k.model_dump() for k in keys])
        return
    for key in keys:
        state = "revoked" if key.revoked_at else "active"
        print(f"{key.id}  {key.team:<16} {state:<8} {' '.join(key.scopes)}  {key.note}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (see keys list).")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    queue_url: KeysQueueOpt = None,
) -> None:
    """Revoke a key; requests with it are refused from now on."""
    with _keys(config, data_dir, queue_url) as store:
        key = store.revoke(key_id)
    print(f"patchloop: key {key.id} of team {key.team} revoked", file=sys.stderr)


@app.command("prune")
def prune(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    queue_url: Annotated[
        str | None, typer.Option("--queue-url", help="postgresql://USER@HOST/DB of the jobs.")
    ] = None,
    days: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Keep the events of jobs finished this recently (default: "
            "keep_events_days; 0: keep all).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Delete the events of long-finished jobs now (a server with workers does it hourly);
    the jobs and their results stay."""
    import time

    from patchloop.service.retention import prune_store

    settings = _settings(config, {"data_dir": data_dir, "queue_url": queue_url})
    keep = settings.keep_events_days if days is None else days
    if keep == 0:
        print("patchloop: keep_events_days is 0: every event is kept", file=sys.stderr)
        return
    pruned = prune_store(settings, keep, time.time())
    if as_json:
        print_json(pruned.model_dump())
        return
    print(
        f"patchloop: pruned {pruned.events} events of {pruned.jobs} jobs finished more than "
        f"{keep:g} days ago",
        file=sys.stderr,
    )


def _read_key(key: str | None, key_file: Path | None) -> str:
    if key:
        return key
    if key_file is not None:
        try:
            return key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read the key file {key_file}: {exc}") from exc
    raise UsageError("the service needs an API key", hint="pass --key KEY or --key-file FILE")


def submit(
    task: Annotated[str, typer.Argument(help="What is wrong, in plain words (optional).")] = "",
    server: Annotated[str, typer.Option(help="Service URL, e.g. http://127.0.0.1:8765.")] = (
        "http://127.0.0.1:8765"
    ),
    repo: Annotated[
        Path | None, typer.Option(help="Project directory on the server's file system.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Git URL the server clones instead.")] = None,
    ref: Annotated[str | None, typer.Option(help="Branch, tag or commit.")] = None,
    test: Annotated[
        list[str] | None, typer.Option("--test", help="Failing test node id (repeatable).")
    ] = None,
    test_cmd: Annotated[str | None, typer.Option(help="Test command.")] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Model spec the server offers.")
    ] = None,
    edit_format: Annotated[
        str | None, typer.Option(help="auto, search-replace, json, udiff or whole.")
    ] = None,
    max_iterations: Annotated[int | None, typer.Option(help="Model calls per model tier.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Token budget of the run.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock budget in seconds.")] = None,
    no_fixers: Annotated[
        bool, typer.Option("--no-fixers", help="Skip the model-free tier.")
    ] = False,
    branch: Annotated[
        str | None, typer.Option(help="Commit the verified diff on a new branch.")
    ] = None,
    key: Annotated[str | None, typer.Option(help="API key (patchloop serve keys add).")] = None,
    key_file: Annotated[Path | None, typer.Option(help="File holding the API key.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the run as JSON.")] = False,
) -> int:
    """Submit a repair to a running service and follow it live; flags as for ``fix``."""
    from patchloop.cli.common import EXIT_NOT_FIXED, EXIT_NOTHING, EXIT_USAGE, EXIT_VERIFIED
    from patchloop.cli.progress import Progress
    from patchloop.service.client import ServiceClient
    from patchloop.service.schemas import Budgets, RepairRequest, Repository

    if (repo is None) == (url is None):
        raise UsageError("name the repository with exactly one of --repo or --url")
    request = RepairRequest(
        repository=Repository(
            path=str(repo.resolve()) if repo is not None else None, url=url, ref=ref
        ),
        task=task,
        tests=list(test or ()),
        test_cmd=test_cmd,
        models=list(model or ()),
        edit_format=edit_format,
        budgets=Budgets(max_iterations=max_iterations, max_tokens=max_tokens, timeout=timeout),
        fixers=not no_fixers,
        apply_to_branch=branch,
    )
    with ServiceClient(server, _read_key(key, key_file)) as client:
        accepted = client.submit(request)
        if not as_json:
            print(f"patchloop: queued {accepted.id} on {server}", file=sys.stderr)
        with Progress(mode="json" if as_json else "auto") as progress:
            for event in client.events(accepted.id):
                if event.event is not None:
                    progress.on_event(event.event)
                elif not as_json and event.kind != "job.queued":
                    print(f"patchloop: {event.kind}: {event.message}", file=sys.stderr)
        view = client.get(accepted.id)
    if as_json:
        print_json(view.model_dump(mode="json", exclude={"record"}))
    elif view.verdict == "verified":
        sys.stdout.write(view.diff)
        print(f"patchloop: verified fix by {view.fixed_by} ({view.id})", file=sys.stderr)
    else:
        print(f"patchloop: {view.status}: {view.verdict} {view.error or ''}", file=sys.stderr)
    codes = {"verified": EXIT_VERIFIED, "not_fixed": EXIT_NOT_FIXED, "nothing_to_fix": EXIT_NOTHING}
    return codes.get(view.verdict or "", EXIT_USAGE)
