"""LocalSandbox.run against real processes: environment, limits, kills, output caps."""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from pathlib import Path

import pytest

from patchloop.domain import Limits
from patchloop.sandbox.local import LocalSandbox

PY = sys.executable


@pytest.fixture
def sandbox() -> LocalSandbox:
    return LocalSandbox()


def _alive(pid: int) -> bool:
    # A zombie (exited, waiting for its reaper) counts as dead.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_dead(pid: int, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _env_of(result_stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in result_stdout.splitlines() if "=" in line)


def test_environment_is_an_allow_list(
    sandbox: LocalSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SBX_FAKE_SECRET", "hunter2-canary")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    result = sandbox.run(["env"], tmp_path, limits=Limits(wall_s=10))
    assert result.exit_code == 0, result.stderr
    assert "hunter2-canary" not in result.stdout
    env = _env_of(result.stdout)
    assert "SBX_FAKE_SECRET" not in env
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert "PYTHONPATH" not in env
    assert env["PYTHONHASHSEED"] == "0"
    assert env["TZ"] == "UTC"
    assert env["LC_ALL"] == "C.UTF-8"
    assert env["LANG"] == "C.UTF-8"
    assert env["PYTHONNOUSERSITE"] == "1"
    assert env["PATH"] == os.environ["PATH"]


def test_env_additions_apply_on_top(sandbox: LocalSandbox, tmp_path: Path) -> None:
    result = sandbox.run(
        ["env"], tmp_path, limits=Limits(wall_s=10), env={"EXTRA": "yes", "TZ": "Europe/Paris"}
    )
    env = _env_of(result.stdout)
    assert env["EXTRA"] == "yes"
    assert env["TZ"] == "Europe/Paris"


def test_home_and_tmpdir_are_private_and_removed(sandbox: LocalSandbox, tmp_path: Path) -> None:
    script = (
        "import os, tempfile, pathlib\n"
        "home = pathlib.Path(os.environ['HOME'])\n"
        "(home / 'f').write_text('x')\n"
        "print(home)\n"
        "print(tempfile.gettempdir())\n"
    )
    result = sandbox.run([PY, "-c", script], tmp_path, limits=Limits(wall_s=20))
    assert result.exit_code == 0, result.stderr
    home, tmp = result.stdout.split()
    assert home != os.environ.get("HOME")
    assert "patchloop-run-" in home
    assert Path(tmp).parent == Path(home).parent
    assert not Path(home).exists()
    assert not Path(tmp).exists()


def test_exit_code_streams_and_cwd(sandbox: LocalSandbox, tmp_path: Path) -> None:
    result = sandbox.run(
        ["sh", "-c", "pwd; echo oops >&2; printf '\\377ok\\n'; exit 3"],
        tmp_path,
        limits=Limits(wall_s=10),
    )
    assert result.exit_code == 3
    assert result.killed_by is None
    lines = result.stdout.splitlines()
    assert Path(lines[0]).resolve() == tmp_path.resolve()
    assert lines[1] == "\ufffdok"  # invalid UTF-8 replaced, never an exception
    assert result.stderr == "oops\n"
    assert result.error is None
    assert result.duration_s > 0


def test_wall_clock_kills_the_process_group(sandbox: LocalSandbox, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    result = sandbox.run(
        ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; sleep 30"],
        tmp_path,
        limits=Limits(wall_s=0.5),
    )
    elapsed = time.monotonic() - start
    assert result.killed_by == "wall"
    assert result.timed_out
    assert result.exit_code == -signal.SIGKILL
    assert elapsed < 10
    assert _wait_dead(int(pidfile.read_text()))


def test_leftover_group_members_are_killed_after_exit(
    sandbox: LocalSandbox, tmp_path: Path
) -> None:
    # The background sleep keeps stdout open; the run must still return promptly.
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    result = sandbox.run(
        ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; echo started"],
        tmp_path,
        limits=Limits(wall_s=20),
    )
    assert time.monotonic() - start < 10
    assert result.exit_code == 0
    assert result.killed_by is None
    assert result.stdout == "started\n"
    assert _wait_dead(int(pidfile.read_text()))


def test_output_cap_stops_an_endless_printer(sandbox: LocalSandbox, tmp_path: Path) -> None:
    script = "import sys\ni = 0\nwhile True:\n    print('line', i)\n    i += 1\n"
    cap = 64 * 1024
    result = sandbox.run([PY, "-c", script], tmp_path, limits=Limits(wall_s=30, output_bytes=cap))
    assert result.killed_by == "output"
    assert result.output_truncated
    assert result.stdout.startswith("line 0\nline 1\n")
    assert "bytes of output dropped" in result.stdout
    assert len(result.stdout.encode()) <= cap + 100
    tail_numbers = [int(x.split()[1]) for x in result.stdout.splitlines()[-20:-1] if " " in x]
    assert min(tail_numbers) > 5000  # the tail is the latest output, not the head again


def test_stderr_is_capped_separately(sandbox: LocalSandbox, tmp_path: Path) -> None:
    script = (
        "import sys\nprint('hello', flush=True)\n"
        "while True:\n    sys.stderr.write('e' * 1000 + '\\n')\n"
    )
    result = sandbox.run([PY, "-c", script], tmp_path, limits=Limits(wall_s=30, output_bytes=8192))
    assert result.killed_by == "output"
    assert result.stdout == "hello\n"
    assert "bytes of output dropped" in result.stderr


def test_cpu_limit_kills_a_busy_loop(sandbox: LocalSandbox, tmp_path: Path) -> None:
    result = sandbox.run(
        [PY, "-c", "while True: pass"], tmp_path, limits=Limits(wall_s=30, cpu_s=1)
    )
    assert result.killed_by == "cpu"
    assert result.exit_code in (-signal.SIGXCPU, -signal.SIGKILL)


@pytest.mark.parametrize(
    ("script", "exit_code"),
    [
        ("exec head -c 4000000 /dev/zero > big", -signal.SIGXFSZ),
        # Without exec the shell reports the signal as 128 + N.
        ("head -c 4000000 /dev/zero > big", 128 + signal.SIGXFSZ),
    ],
)
def test_file_size_limit_kills_a_writer(
    sandbox: LocalSandbox, tmp_path: Path, script: str, exit_code: int
) -> None:
    limit = 1024 * 1024
    result = sandbox.run(
        ["sh", "-c", script], tmp_path, limits=Limits(wall_s=20, file_size_bytes=limit)
    )
    assert result.killed_by == "file_size"
    assert result.exit_code == exit_code
    assert (tmp_path / "big").stat().st_size == limit


def test_file_size_limit_in_python_raises_efbig(sandbox: LocalSandbox, tmp_path: Path) -> None:
    # Python ignores SIGXFSZ, so the write fails with EFBIG instead of killing the process.
    script = (
        "import errno\n"
        "try:\n"
        "    open('big', 'wb').write(b'x' * 4_000_000)\n"
        "except OSError as e:\n"
        "    print(errno.errorcode[e.errno])\n"
    )
    result = sandbox.run(
        [PY, "-c", script], tmp_path, limits=Limits(wall_s=20, file_size_bytes=1024 * 1024)
    )
    assert result.stdout.strip() == "EFBIG"
    assert (tmp_path / "big").stat().st_size == 1024 * 1024


def test_address_space_limit_fails_a_big_allocation(sandbox: LocalSandbox, tmp_path: Path) -> None:
    result = sandbox.run(
        [PY, "-c", "b = bytearray(1 << 30)"],
        tmp_path,
        limits=Limits(wall_s=20, memory_bytes=512 * 1024 * 1024),
    )
    assert result.exit_code == 1
    assert "MemoryError" in result.stderr


def test_rlimits_are_set_in_the_child(sandbox: LocalSandbox, tmp_path: Path) -> None:
    script = (
        "import resource as r\n"
        "for n in ('RLIMIT_CORE','RLIMIT_NPROC','RLIMIT_NOFILE','RLIMIT_CPU','RLIMIT_AS'):\n"
        "    print(n, *r.getrlimit(getattr(r, n)))\n"
    )
    limits = Limits(wall_s=20, cpu_s=50, memory_bytes=2 << 30, processes=77, open_files=64)
    result = sandbox.run([PY, "-c", script], tmp_path, limits=limits)
    got = {
        name: (int(soft), int(hard))
        for name, soft, hard in (line.split() for line in result.stdout.splitlines())
    }
    assert got["RLIMIT_CORE"] == (0, 0)
    assert got["RLIMIT_NPROC"] == (77, 77)
    assert got["RLIMIT_NOFILE"] == (64, 64)
    assert got["RLIMIT_CPU"] == (50, 51)
    assert got["RLIMIT_AS"] == (2 << 30, 2 << 30)
    # The harness itself is untouched.
    assert resource.getrlimit(resource.RLIMIT_NPROC) != (77, 77)


def test_open_files_limit(sandbox: LocalSandbox, tmp_path: Path) -> None:
    script = (
        "fs = []\n"
        "try:\n"
        "    for i in range(100):\n"
        "        fs.append(open(__import__('os').devnull))\n"
        "except OSError as e:\n"
        "    print('stopped', len(fs))\n"
    )
    result = sandbox.run([PY, "-c", script], tmp_path, limits=Limits(wall_s=20, open_files=32))
    assert result.stdout.startswith("stopped")
    assert int(result.stdout.split()[1]) < 32


def test_command_not_found_is_a_result(sandbox: LocalSandbox, tmp_path: Path) -> None:
    result = sandbox.run(["no-such-command-xyz", "--flag"], tmp_path, limits=Limits(wall_s=5))
    assert result.exit_code is None
    assert result.error == "command not found: no-such-command-xyz"
    assert result.argv == ("no-such-command-xyz", "--flag")


def test_unrunnable_commands_are_results(sandbox: LocalSandbox, tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    not_executable = sandbox.run([str(script)], tmp_path, limits=Limits(wall_s=5))
    assert not_executable.exit_code is None
    assert not_executable.error is not None
    assert "not executable" in not_executable.error
    missing_dir = sandbox.run(["true"], tmp_path / "nope", limits=Limits(wall_s=5))
    assert missing_dir.exit_code is None
    assert missing_dir.error is not None
    assert "working directory" in missing_dir.error
    empty = sandbox.run([], tmp_path, limits=Limits(wall_s=5))
    assert empty.error == "empty command"


def test_stdin_is_closed(sandbox: LocalSandbox, tmp_path: Path) -> None:
    result = sandbox.run(
        [PY, "-c", "import sys; print(repr(sys.stdin.read()))"], tmp_path, limits=Limits(wall_s=10)
    )
    assert result.stdout.strip() == "''"


def test_interrupt_during_a_run_kills_the_group(sandbox: LocalSandbox, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            sandbox.run(
                ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; sleep 30"],
                tmp_path,
                limits=Limits(wall_s=30),
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _wait_dead(int(pidfile.read_text()))


def test_without_pidfd_the_poll_fallback_works(
    sandbox: LocalSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patchloop.sandbox import _process

    monkeypatch.setattr(_process, "_open_pidfd", lambda pid: None)
    pidfile = tmp_path / "child.pid"
    done = sandbox.run(
        ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; echo out"],
        tmp_path,
        limits=Limits(wall_s=20),
    )
    assert done.exit_code == 0
    assert done.stdout == "out\n"
    assert _wait_dead(int(pidfile.read_text()))
    hung = sandbox.run(["sleep", "30"], tmp_path, limits=Limits(wall_s=0.3))
    assert hung.killed_by == "wall"
