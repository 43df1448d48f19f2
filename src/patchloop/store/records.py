"""Run records on disk: ``<state dir>/runs/<id>/`` with the record, events and every attempt.

Layout of one run directory::

    record.json           the RunRecord, rewritten atomically after every step
    config.json           the resolved configuration
    events.jsonl          one Event per line, appended as they happen
    snapshot/             what replay needs to rebuild the snapshot
    baseline.json         the baseline TestReport
    attempts/NNN/         prompt.json, completion.txt, patch.diff, report.json, feedback.txt
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from patchloop.domain import Completion, Event, Message, RunRecord, TestReport
from patchloop.errors import UsageError
from patchloop.store.redact import scrub

__all__ = ["RunStore", "RunWriter", "new_run_id"]

RUNS = "runs"
#: The ``.gitignore`` of a state directory: everything in it stays out of git.
IGNORE_ALL = "*\n"
#: What patchloop itself puts directly under a state directory.
OWN_ENTRIES = frozenset({".gitignore", RUNS})


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random hex."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    # Credentials of model URLs never reach the disk (see patchloop.store.redact).
    tmp.write_text(scrub(text), encoding="utf-8")
    os.replace(tmp, path)


def _dump(model: BaseModel) -> str:
    return model.model_dump_json(indent=2) + "\n"


class RunWriter:
    """Writes one run's directory as the run goes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=False)
        self._events: IO[str] = (directory / "events.jsonl").open("a", encoding="utf-8")

    def event(self, event: Event) -> None:
        """Append one event line and flush it, so a crash keeps everything before it."""
        self._events.write(scrub(event.model_dump_json()) + "\n")
        self._events.flush()

    def write_json(self, name: str, data: Any) -> None:
        """Write ``name`` (relative) as indented JSON."""
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def write_text(self, name: str, text: str) -> None:
        """Write ``name`` (relative) as text."""
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, text)

    def baseline(self, report: TestReport) -> None:
        """Store the baseline test report."""
        self.write_text("baseline.json", _dump(report))

    def attempt_files(
        self,
        index: int,
        *,
        messages: Sequence[Message] = (),
        completion: Completion | None = None,
        diff: str = "",
        report: TestReport | None = None,
        feedback: str = "",
        error: str = "",
    ) -> None:
        """Store what one attempt saw and produced, under ``attempts/NNN/``."""
        base = f"attempts/{index:03d}"
        if messages:
            self.write_json(f"{base}/prompt.json", [m.model_dump() for m in messages])
        if completion is not None:
            self.write_text(f"{base}/completion.txt", completion.text)
            self.write_text(f"{base}/completion.json", _dump(completion))
        if diff:
            self.write_text(f"{base}/patch.diff", diff)
        if report is not None:
            self.write_text(f"{base}/report.json", _dump(report))
        if feedback:
            self.write_text(f"{base}/feedback.txt", feedback)
        if error:
            self.write_text(f"{base}/error.txt", error)

    def checkpoint(self, record: RunRecord) -> None:
        """Rewrite ``record.json`` atomically."""
        self.write_text("record.json", _dump(record))

    def close(self) -> None:
        """Close the events file."""
        self._events.close()


class RunStore:
    """The runs under one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.runs_dir = state_dir / RUNS

    def create(self, run_id: str) -> RunWriter:
        """Start the directory of a new run.

        The state directory is patchloop's own: a new directory, or one holding only what
        patchloop writes there. Any other existing directory (the project itself, a package)
        is refused, since the ``.gitignore`` that keeps records out of git would hide its files.
        """
        self._check_own()
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            ignore = self.state_dir / ".gitignore"
            if not ignore.exists():
                # Keeps run records out of `git status` and out of later snapshots.
                ignore.write_text(IGNORE_ALL, encoding="utf-8")
            return RunWriter(self.runs_dir / run_id)
        except OSError as exc:
            raise UsageError(
                f"cannot write run records to {self.state_dir}: {exc.strerror}",
                hint="set state_dir (or PATCHLOOP_STATE_DIR) to a writable directory",
            ) from exc

    def _check_own(self) -> None:
        try:
            if not self.state_dir.is_dir():
                return
            others = sorted(p.name for p in self.state_dir.iterdir() if p.name not in OWN_ENTRIES)
            ignore = self.state_dir / ".gitignore"
            foreign = ignore.is_file() and ignore.read_text("utf-8", "replace") != IGNORE_ALL
        except OSError:
            return  # mkdir reports what is wrong
        if others or foreign:
            shown = ", ".join(others[:5]) or ".gitignore"
            raise UsageError(
                f"the state directory {self.state_dir} already holds other files ({shown}); "
                "patchloop keeps its run records only in a directory of its own",
                hint="set state_dir (or PATCHLOOP_STATE_DIR) to a new directory, "
                "e.g. the default .patchloop",
            )

    def ids(self) -> list[str]:
        """Run ids, oldest first."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if (p / "record.json").is_file())

    def path(self, run_id: str) -> Path:
        """Directory of a run; accepts a unique prefix of the id."""
        ids = self.ids()
        if run_id in ids:
            return self.runs_dir / run_id
        matches = [i for i in ids if i.startswith(run_id)]
        if len(matches) == 1:
            return self.runs_dir / matches[0]
        if not matches:
            raise UsageError(
                f"no run {run_id!r} under {self.runs_dir}", hint="see `patchloop runs list`"
            )
        raise UsageError(f"run id {run_id!r} is ambiguous: {', '.join(matches)}")

    def load(self, run_id: str) -> RunRecord:
        """The record of a run."""
        path = self.path(run_id) / "record.json"
        try:
            return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError) as exc:
            raise UsageError(f"cannot read run record {path}: {exc}") from exc

    def completions(self, run_id: str) -> dict[int, Completion]:
        """Recorded completions by attempt index."""
        found: dict[int, Completion] = {}
        attempts = self.path(run_id) / "attempts"
        if not attempts.is_dir():
            return found
        for entry in attempts.iterdir():
            file = entry / "completion.json"
            if entry.name.isdigit() and file.is_file():
                found[int(entry.name)] = Completion.model_validate_json(file.read_text("utf-8"))
        return found
