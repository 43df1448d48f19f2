"""The prompt of a model tier: files, repository map and failures within the model's window,
and the edit format the model is asked in."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from patchloop.context.layout import ContextFile, PromptLayout
from patchloop.context.select import choose_files
from patchloop.domain import Location, ScopeFile
from patchloop.protocols import ContextWindow, EditFormat, Model, SizedModel
from patchloop.session import RunSession
from patchloop.verify.feedback import render_failures
from patchloop.verify.guard import is_protected_path

__all__ = ["format_for", "layout_for"]


def format_for(run: RunSession, model: Model, files: Sequence[ContextFile]) -> EditFormat:
    """The edit format this model is asked in: the configured one, or under ``auto`` whole
    files for a small model when every file it may edit is short (see :mod:`edits.auto`)."""
    from patchloop.edits import get_format
    from patchloop.edits.auto import resolve_format

    editable = [
        ScopeFile(path=f.path, text=f.text, spans=f.spans)
        for f in files
        if run.task.allow_test_edits or not is_protected_path(f.path)
    ]
    parameters = model.parameters if isinstance(model, SizedModel) else None
    name = resolve_format(run.config.edit_format, parameters, editable)
    return run.format if name == run.format.name else get_format(name)


def layout_for(
    run: RunSession, model: Model, locations: Sequence[Location]
) -> tuple[PromptLayout, EditFormat]:
    """The prompt layout for ``model`` around ``locations``, and the edit format it is asked in."""
    assert run.baseline_report is not None
    t0 = time.monotonic()
    settings = run.config.context
    # A model that knows its context window (``context_size``, optional on the Model seam)
    # holds prompt and reply in it: the prompt budget leaves room for the reply (at most a
    # quarter of the window; replies are bounded by the files they may edit) and for the chat
    # template's tokens, which count_tokens does not see.
    window = model.context_size if isinstance(model, ContextWindow) else None
    if window is not None and window > 0:
        reply = min(run.config.model.max_output_tokens, window // 4)
        fits = max(1, window - reply - window // 32)
        if fits < settings.max_tokens:
            settings = settings.model_copy(update={"max_tokens": fits})
    from patchloop.context.layout import SYSTEM_RULES
    from patchloop.context.relocalize import FileSource
    from patchloop.context.repomap import build_repo_map, repo_map_budget

    failures = render_failures(run.baseline_report, run.targets, root=run.snapshot.template)
    instructions = run.format.instructions()
    # Files get three quarters of what the fixed sections leave; the rest is for the history.
    fixed = sum(
        model.count_tokens(text) for text in (SYSTEM_RULES, instructions, run.task.description)
    )
    fixed += model.count_tokens(failures) + repo_map_budget(settings)
    test_files = sorted({nodeid.split("::")[0] for nodeid in run.targets})
    files = choose_files(
        run.snapshot.template,
        locations=locations,
        test_files=test_files,
        count_tokens=model.count_tokens,
        max_tokens=max(0, settings.max_tokens - fixed) * 3 // 4,
        max_file_tokens=settings.max_file_tokens,
    )
    repo_map = build_repo_map(
        Path(run.snapshot.info.root),
        run.snapshot.files,
        shown=[f.path for f in files if not f.spans],
        focus=f"{run.task.description}\n{failures}",
        budget_tokens=repo_map_budget(settings),
        store_dir=Path(run.config.index.dir) if run.config.index.dir else None,
    )
    if repo_map.note:
        run.emit("context.note", repo_map.note)
    chosen = format_for(run, model, files)
    layout = PromptLayout(
        instructions=chosen.instructions(),
        files=files,
        task=run.task.description,
        failures=failures,
        count_tokens=model.count_tokens,
        max_tokens=settings.max_tokens,
        repo_map=repo_map.text,
        source=FileSource.of(
            run.snapshot.template, run.snapshot.files, max_file_tokens=settings.max_file_tokens
        ),
    )
    run.spend("context", time.monotonic() - t0)
    run.emit(
        "context",
        f"{len(files)} files in the prompt, edits as {chosen.name}",
        files=len(files),
        repo_map_chars=len(repo_map.text),
        edit_format=chosen.name,
    )
    return layout, chosen
