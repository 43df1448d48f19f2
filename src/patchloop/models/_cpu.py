"""What the CPU offers an embedded model: physical cores to run on, and whether it has AMX.

Both are read from Linux's ``/proc`` and ``/sys`` with bounded reads; elsewhere the answers
fall back to the logical CPUs this process may use and "no AMX".
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

__all__ = ["cpu_flags", "has_amx", "physical_cores"]

_CPUINFO = Path("/proc/cpuinfo")
_SYS_CPU = Path("/sys/devices/system/cpu")
_MAX_CPUINFO = 1 << 20
_AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})


def _read(path: Path, limit: int = 4096) -> str:
    try:
        with path.open("rb") as fh:
            return fh.read(limit).decode("ascii", errors="replace")
    except OSError:
        return ""


def _allowed_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


@cache
def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (hyper-threads counted once).

    llama.cpp generates fastest with one thread per physical core; a sibling thread shares the
    core's execution units and mostly adds contention.
    """
    cores: set[tuple[str, str]] = set()
    for cpu in _allowed_cpus():
        topology = _SYS_CPU / f"cpu{cpu}" / "topology"
        package = _read(topology / "physical_package_id").strip()
        core = _read(topology / "core_id").strip()
        cores.add((package, core) if core else ("cpu", str(cpu)))
    return max(1, len(cores))


@cache
def cpu_flags() -> frozenset[str]:
    """The feature flags of the first CPU in ``/proc/cpuinfo`` (empty where there is none)."""
    for line in _read(_CPUINFO, _MAX_CPUINFO).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def has_amx() -> bool:
    """Whether the CPU has Intel AMX (llama.cpp's AMX buffer type is used there)."""
    return bool(cpu_flags() & _AMX_FLAGS)
