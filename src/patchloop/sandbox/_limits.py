"""Resource limits as ``setrlimit`` calls, and the clean environment of a sandboxed command.

Caveats of rlimits, which the bubblewrap sandbox addresses by running as an unprivileged uid:

- ``RLIMIT_NPROC`` counts every process of the *real user*, not only the sandboxed tree, and
  root (``CAP_SYS_RESOURCE``) ignores it altogether, so a fork bomb is not bounded by it when
  patchloop runs as root.
- ``RLIMIT_AS`` limits each process, not the tree.
- Python ignores ``SIGXFSZ``, so in Python a write past ``RLIMIT_FSIZE`` raises
  ``OSError(EFBIG)`` instead of killing the process; other programs are killed by the signal.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Mapping
from pathlib import Path

from patchloop.config import SandboxSettings, TestSettings
from patchloop.domain import Limits

__all__ = ["RlimitTable", "clean_env", "limits_from_settings", "make_preexec", "rlimit_table"]

#: ``(resource, soft, hard)`` triples applied in the child before ``exec``.
RlimitTable = tuple[tuple[int, int, int], ...]

#: Fixed variables of every sandboxed environment (reproducible hashing, time zone, locale).
DETERMINISM = {
    "PYTHONHASHSEED": "0",
    "TZ": "UTC",
    "LC_ALL": "C.UTF-8",
    "LANG": "C.UTF-8",
    "PYTHONNOUSERSITE": "1",
}
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def _clamp(res: int, soft: int, hard: int) -> tuple[int, int, int]:
    # An unprivileged process cannot raise its hard limit; never ask for more than it has.
    _, current_hard = resource.getrlimit(res)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    return res, soft, hard


def rlimit_table(limits: Limits) -> RlimitTable:
    """The ``setrlimit`` calls that enforce ``limits`` (core dumps are always off)."""
    table = [_clamp(resource.RLIMIT_CORE, 0, 0)]
    if limits.cpu_s is not None:
        # SIGXCPU at the soft limit; SIGKILL one second later if the process ignores it.
        table.append(_clamp(resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1))
    for res, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_NPROC, limits.processes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes),
    ):
        if value is not None:
            table.append(_clamp(res, value, value))
    return tuple(table)


def make_preexec(table: RlimitTable) -> Callable[[], None]:
    """A ``preexec_fn`` that applies ``table`` in the forked child.

    It only calls ``setrlimit`` on precomputed values: no imports, no locks, so the usual
    hazard of ``preexec_fn`` in a threaded parent (a lock held by another thread at fork time)
    does not arise.
    """
    setrlimit = resource.setrlimit

    def apply() -> None:
        for res, soft, hard in table:
            setrlimit(res, (soft, hard))

    return apply


def clean_env(
    *, path: str | None, home: Path, tmp: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a sandboxed command: an allow-list, never the parent's variables.

    ``PATH`` (given, else a default), the determinism variables, ``HOME`` and ``TMPDIR`` on the
    run's private scratch directory, then ``extra`` on top.
    """
    env = {"PATH": path or DEFAULT_PATH, **DETERMINISM, "HOME": str(home), "TMPDIR": str(tmp)}
    env.update(extra or {})
    return env


def limits_from_settings(
    tests: TestSettings, sandbox: SandboxSettings, *, wall_s: float | None = None
) -> Limits:
    """The limits of one test run under the configured settings.

    ``wall_s`` overrides ``tests.timeout`` where the caller sizes the run itself (a run's
    remaining budget, the tests a judge selects, a verification job's timeout). This is the one
    place limits are built from configuration.
    """
    return Limits(
        wall_s=tests.timeout if wall_s is None else wall_s,
        cpu_s=sandbox.cpu_s,
        memory_bytes=sandbox.memory_mb * 1024 * 1024 if sandbox.memory_mb is not None else None,
        processes=sandbox.processes,
        output_bytes=tests.output_bytes,
    )
