"""Physical cores and AMX, read from /proc and /sys (fake trees here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from patchloop.models import _cpu


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    _cpu.physical_cores.cache_clear()
    _cpu.cpu_flags.cache_clear()
    yield
    _cpu.physical_cores.cache_clear()
    _cpu.cpu_flags.cache_clear()


def topology(root: Path, cpu: int, package: int, core: int) -> None:
    folder = root / f"cpu{cpu}" / "topology"
    folder.mkdir(parents=True)
    (folder / "physical_package_id").write_text(f"{package}\n")
    (folder / "core_id").write_text(f"{core}\n")


def test_hyper_threads_count_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for cpu, (package, core) in enumerate([(0, 0), (0, 1), (0, 0), (0, 1), (1, 0), (1, 0)]):
        topology(tmp_path, cpu, package, core)
    monkeypatch.setattr(_cpu, "_SYS_CPU", tmp_path)
    monkeypatch.setattr(_cpu, "_allowed_cpus", lambda: {0, 1, 2, 3, 4, 5})
    assert _cpu.physical_cores() == 3


def test_only_allowed_cpus_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for cpu in range(4):
        topology(tmp_path, cpu, 0, cpu)
    monkeypatch.setattr(_cpu, "_SYS_CPU", tmp_path)
    monkeypatch.setattr(_cpu, "_allowed_cpus", lambda: {2})
    assert _cpu.physical_cores() == 1


def test_without_topology_each_cpu_is_a_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cpu, "_SYS_CPU", tmp_path / "none")
    monkeypatch.setattr(_cpu, "_allowed_cpus", lambda: {0, 1})
    assert _cpu.physical_cores() == 2


@pytest.mark.parametrize(
    ("flags", "amx"),
    [("fpu avx2 avx512f amx_bf16 amx_tile amx_int8", True), ("fpu avx2 avx512_vnni", False)],
)
def test_amx_from_cpuinfo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: str, amx: bool
) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: X\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    monkeypatch.setattr(_cpu, "_CPUINFO", info)
    assert _cpu.has_amx() is amx


def test_no_cpuinfo_means_no_amx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cpu, "_CPUINFO", tmp_path / "missing")
    assert _cpu.has_amx() is False
