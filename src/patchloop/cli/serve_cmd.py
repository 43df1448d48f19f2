"""``patchloop serve``: run the repair service; ``patchloop serve keys``: manage its API keys."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from patchloop.cli.common import print_json
from patchloop.errors import UsageError

__all__ = ["app"]

app = typer.Typer(
    help="Run repair as a service: HTTP API, durable queue, worker processes.",
    invoke_without_command=True,
    no_args_is_help=False,
)
keys_app = typer.Typer(help="API keys per team (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Server settings file (the \\[service] table).")
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Database, run records and scratch clones.")
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


@app.callback()
def serve(
    ctx: typer.Context,
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    data_dir: DataDirOpt = None,
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

    application = create_app(settings)
    print(
        f"patchloop: serving on http://{settings.host}:{settings.port} (API docs at /docs), "
        f"{settings.workers} worker(s), data in {settings.data_dir}",
        file=sys.stderr,
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="warning")


@keys_app.command("add")
def keys_add(
    team: Annotated[str, typer.Option(help="Team the key belongs to.")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="repo:PATTERN the key may name (repeat).")
    ],
    note: Annotated[str, typer.Option(help="Free text (who, what for).")] = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key as JSON.")] = False,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from patchloop.service.keys import KeyStore

    settings = _settings(config, {"data_dir": data_dir})
    created = KeyStore(settings.db_path).add(team, scope, note)
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every key: id, team, scopes, revoked or not (never the secret)."""
    from patchloop.service.keys import KeyStore

    settings = _settings(config, {"data_dir": data_dir})
    keys = KeyStore(settings.db_path).all()
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
) -> None:
    """Revoke a key; requests with it are refused from now on."""
    from patchloop.service.keys import KeyStore

    settings = _settings(config, {"data_dir": data_dir})
    key = KeyStore(settings.db_path).revoke(key_id)
    print(f"patchloop: key {key.id} of team {key.team} revoked", file=sys.stderr)
