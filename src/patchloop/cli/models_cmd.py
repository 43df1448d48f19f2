"""``patchloop models check``: measure what a model server really does, and remember it."""

from __future__ import annotations

from typing import Annotated

import typer

from patchloop.config import ModelSettings

__all__ = ["app"]

app = typer.Typer(help="Model backends.", no_args_is_help=True)


@app.command("check")
def check(
    spec: Annotated[str, typer.Argument(help="Model spec KIND:TARGET[#MODEL].")],
    probes: Annotated[int, typer.Option(help="Constrained-output probe requests.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Health, served models, real enforcement of constrained output, cached-token reporting.

    The result is recorded, and later runs with the same spec use the measured capabilities.
    """
    from patchloop.models.check import check_model, describe_check

    result = check_model(spec, ModelSettings(), probes=probes)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        print(describe_check(result))
    return 0 if result.reachable else 2
