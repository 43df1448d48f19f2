"""Helpers for the fixer tests: write a one-module project, collect candidates, run a check."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from patchloop.domain import Location, Patch, Task
from patchloop.fixers.template_fixer import TemplateFixer

MODULE = "mod.py"


def write_module(root: Path, source: str, name: str = MODULE) -> Path:
    """Write ``source`` (dedented) as ``root/name``."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def whole_file(root: Path, name: str = MODULE, score: float = 1.0) -> list[Location]:
    """One coarse location over the whole file."""
    lines = (root / name).read_text(encoding="utf-8").count("\n") or 1
    return [Location(path=name, start_line=1, end_line=lines, score=score)]


def candidates(
    root: Path,
    locations: Sequence[Location] | None = None,
    templates: Sequence[str] | None = None,
    **options: int,
) -> list[Patch]:
    """Every candidate of the template fixer for the module at ``root``.

    Fails when a template raised on the module (its other mutations would be lost silently).
    """
    fixer = TemplateFixer(templates, **options)
    locs = whole_file(root) if locations is None else locations
    patches = list(fixer.candidates(Task(repo=root), locs, root))
    assert fixer.stats.errors == 0, "a template failed on this module"
    return patches


def normalized(source: str) -> str:
    """The AST dump of ``source``: equal for programs that differ only in formatting."""
    return ast.dump(ast.parse(textwrap.dedent(source)))


def after(patch: Patch) -> str:
    """The new text of the single file a candidate changes."""
    (change,) = patch.changes
    assert change.after is not None
    return change.after


def find_fix(patches: Sequence[Patch], fixed: str) -> Patch | None:
    """The candidate whose program equals ``fixed``."""
    want = normalized(fixed)
    return next((p for p in patches if normalized(after(p)) == want), None)


def check_passes(tmp: Path, module_source: str, check: str) -> bool:
    """Run ``check`` (statements importing from ``mod``) in a fresh interpreter."""
    work = tmp / "check"
    work.mkdir(exist_ok=True)
    (work / MODULE).write_text(module_source, encoding="utf-8")
    code = "from mod import *\n" + textwrap.dedent(check)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode == 0


# Runs one check against many module sources in one interpreter; a source whose code or check
# runs past the alarm (a mutated loop condition may never end) counts as failing.
_EACH = """
import contextlib, io, json, signal, sys, types


class Stuck(BaseException):
    pass


def stuck(signum, frame):
    raise Stuck


signal.signal(signal.SIGALRM, stuck)
job = json.load(sys.stdin)
verdicts = []
for source in job["sources"]:
    module = types.ModuleType("mod")
    sys.modules["mod"] = module
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, "mod.py", "exec"), module.__dict__)
            exec(compile("from mod import *\\n" + job["check"], "<check>", "exec"), {})
        verdicts.append(True)
    except BaseException:
        verdicts.append(False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
print(json.dumps(verdicts))
"""


def check_each(module_sources: Sequence[str], check: str) -> list[bool]:
    """Whether ``check`` passes against each module source (all in one fresh interpreter)."""
    job = json.dumps({"sources": list(module_sources), "check": textwrap.dedent(check)})
    proc = subprocess.run(
        [sys.executable, "-c", _EACH],
        input=job,
        capture_output=True,
        text=True,
        timeout=30 + 3 * len(module_sources),
        check=True,
    )
    verdicts: list[bool] = json.loads(proc.stdout)
    return verdicts
