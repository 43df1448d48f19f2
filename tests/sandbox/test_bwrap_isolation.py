"""BwrapSandbox against real processes: limits, network, environment, file system, cleanup."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchloop.domain import Limits
from patchloop.sandbox.bwrap import BwrapSandbox

PY = sys.executable
MiB = 1024 * 1024


def _py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def template(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "data.txt").write_text("original\n")
    return root


@pytest.fixture
def workspace(bwrap: BwrapSandbox, template: Path) -> Iterator[Path]:
    with bwrap.workspace(template) as ws:
        yield ws


def test_fork_bomb_is_bounded_by_the_process_limit(bwrap: BwrapSandbox, workspace: Path) -> None:
    code = """
        import os, time
        made = 0
        for _ in range(300):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            made += 1
        print(made)
    """
    result = bwrap.run(_py(code), workspace, limits=Limits(wall_s=30, processes=32))
    assert result.exit_code == 0, result.stderr
    assert int(result.stdout) < 32
    assert result.duration_s < 20  # the sleeping children died with the sandbox


def test_busy_loop_is_killed_by_the_cpu_limit(bwrap: BwrapSandbox, workspace: Path) -> None:
    result = bwrap.run(_py("while True: pass"), workspace, limits=Limits(wall_s=30, cpu_s=1))
    assert result.killed_by == "cpu"
    assert result.duration_s < 10


def test_sleep_is_killed_by_the_wall_clock(bwrap: BwrapSandbox, workspace: Path) -> None:
    start = time.monotonic()
    result = bwrap.run(["sleep", "60"], workspace, limits=Limits(wall_s=1, cpu_s=1))
    assert result.killed_by == "wall"
    assert time.monotonic() - start < 6


def test_allocation_past_the_memory_limit(bwrap: BwrapSandbox, workspace: Path) -> None:
    result = bwrap.run(
        _py("b = bytearray(1 << 30)"), workspace, limits=Limits(wall_s=30, memory_bytes=512 * MiB)
    )
    assert result.exit_code not in (0, None)
    assert "MemoryError" in result.stderr
    assert result.killed_by == "memory"


def test_disk_filler_hits_the_tmpfs_cap(template: Path) -> None:
    small = BwrapSandbox(tmpfs_bytes=64 * MiB)
    try:
        with small.workspace(template) as ws:
            code = """
                import os, sys
                for target in ("/tmp/big", "big"):
                    written = 0
                    try:
                        with open(target, "wb") as fh:
                            for _ in range(100):
                                fh.write(b"x" * (1 << 20))
                                written += 1
                    except OSError as exc:
                        print(target, exc.errno, os.path.getsize(target))
            """
            result = small.run(_py(code), ws, limits=Limits(wall_s=30))
            assert result.exit_code == 0, result.stderr
            lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
            for target in ("/tmp/big", "big"):
                errno_text, size = lines[target].split()
                assert int(errno_text) == 28  # ENOSPC
                assert int(size) <= 64 * MiB
            assert not (ws / "big").exists()  # the host copy never saw it
    finally:
        small.close()


def test_endless_printer_stops_at_the_output_cap(bwrap: BwrapSandbox, workspace: Path) -> None:
    result = bwrap.run(
        _py("while True: print('spam' * 100)"),
        workspace,
        limits=Limits(wall_s=30, output_bytes=64 * 1024),
    )
    assert result.killed_by == "output"
    assert result.output_truncated
    assert len(result.stdout) < 70 * 1024
    assert "bytes of output dropped" in result.stdout
    assert result.duration_s < 10


def test_network_is_unreachable(bwrap: BwrapSandbox, workspace: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = f"patchloop-test-{os.getpid()}"
    abstract.bind("\0" + name)
    abstract.listen()
    code = f"""
        import json, socket
        out = {{}}
        for key, family, address in (
            ("tcp", socket.AF_INET, ("127.0.0.1", {port})),
            ("unix", socket.AF_UNIX, "\\0{name}"),
        ):
            s = socket.socket(family, socket.SOCK_STREAM)
            try:
                s.connect(address)
                out[key] = "connected"
            except OSError as exc:
                out[key] = type(exc).__name__
        try:
            socket.getaddrinfo("example.com", 80)
            out["dns"] = "resolved"
        except OSError as exc:
            out["dns"] = type(exc).__name__
        print(json.dumps(out))
    """
    try:
        result = bwrap.run(_py(code), workspace, limits=Limits(wall_s=30))
        server.setblocking(False)
        abstract.setblocking(False)
        for listener in (server, abstract):
            with pytest.raises(BlockingIOError):
                listener.accept()  # nothing ever knocked
    finally:
        server.close()
        abstract.close()
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["tcp"] in ("ConnectionRefusedError", "OSError")
    assert out["unix"] in ("ConnectionRefusedError", "FileNotFoundError")
    assert out["dns"] == "gaierror"


def test_parent_secrets_stay_outside(
    bwrap: BwrapSandbox, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SBX_FAKE_SECRET", "hunter2-canary")
    result = bwrap.run(["env"], workspace, limits=Limits(wall_s=30), env={"EXTRA": "given"})
    assert result.exit_code == 0, result.stderr
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert "hunter2-canary" not in result.stdout
    assert env["EXTRA"] == "given"
    assert env["PYTHONHASHSEED"] == "0"
    assert env["TZ"] == "UTC"
    assert env["LC_ALL"] == "C.UTF-8"
    assert env["HOME"] == "/tmp/home"


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_setsid_daemon_dies_with_the_run(bwrap: BwrapSandbox, workspace: Path) -> None:
    marker = f"{os.getpid() % 1000}.{time.time_ns() % 1000:03d}1"
    result = bwrap.run(
        ["sh", "-c", f"setsid sleep {marker} > /dev/null 2>&1 & echo started"],
        workspace,
        limits=Limits(wall_s=30),
    )
    assert result.exit_code == 0, result.stderr
    assert "started" in result.stdout
    deadline = time.monotonic() + 5
    while _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(f"sleep {marker}") == []


def test_writes_outside_the_copy_are_refused(
    bwrap: BwrapSandbox, template: Path, workspace: Path
) -> None:
    before_template, before_copy = _tree_hash(template), _tree_hash(workspace)
    code = f"""
        import os
        targets = ("/etc/pwned", "/pwned", "/usr/pwned", "{template}/data.txt", "{sys.prefix}/x")
        for target in targets:
            try:
                with open(target, "w") as fh:
                    fh.write("x")
                print(target, "written")
            except OSError as exc:
                print(target, type(exc).__name__)
        for target in ("data.txt", "/tmp/scratch", os.environ["HOME"] + "/note"):
            with open(target, "w") as fh:
                fh.write("changed\\n")
        os.makedirs("pkg/__pycache__", exist_ok=True)
        print("uid", os.getuid())
    """
    result = bwrap.run(_py(code), workspace, limits=Limits(wall_s=30))
    assert result.exit_code == 0, result.stderr
    assert "written" not in result.stdout
    assert _tree_hash(template) == before_template
    assert _tree_hash(workspace) == before_copy  # each run works on its own private copy
    assert not (workspace / "pkg" / "__pycache__").exists()
    assert not Path("/etc/pwned").exists()
    if os.geteuid() == 0:
        assert "uid 65534" in result.stdout


def test_only_bound_host_paths_are_visible(
    bwrap: BwrapSandbox, workspace: Path, tmp_path: Path
) -> None:
    canary = tmp_path / "secret.txt"
    canary.write_text("canary")
    canary.chmod(0o600)
    code = f"""
        import os
        for target in ("/etc/shadow", "{canary}"):
            try:
                open(target).read(1)
                print(target, "readable")
            except OSError as exc:
                print(target, type(exc).__name__)
        home = os.path.expanduser("~root")
        print(sorted(os.listdir(home)) if os.path.isdir(home) else [])
    """
    result = bwrap.run(_py(code), workspace, limits=Limits(wall_s=30))
    assert result.exit_code == 0, result.stderr
    assert "readable" not in result.stdout
    # At most the directories leading to the bound interpreter, never the host's files.
    listed = result.stdout.splitlines()[-1]
    host_root = sorted(os.listdir("/root")) if os.access("/root", os.R_OK) else []
    for name in host_root:
        if name not in sys.prefix + sys.base_prefix:
            assert repr(name) not in listed


def test_readable_and_writable_paths(bwrap: BwrapSandbox, workspace: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("hello")
    out = tmp_path / "out"
    out.mkdir()
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    code = f"""
        print(open("{shared}/in.txt").read())
        open("{out}/result.txt", "w").write("done")
        import os
        print(os.path.exists("{hidden}"))
        try:
            open("{shared}/new.txt", "w")
        except OSError as exc:
            print(type(exc).__name__)
    """
    result = bwrap.run(
        _py(code), workspace, limits=Limits(wall_s=30), readable=[shared], writable=[out]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["hello", "False", "OSError"]
    assert (out / "result.txt").read_text() == "done"
    assert not (shared / "new.txt").exists()


def test_descriptors_are_passed_at_their_numbers(bwrap: BwrapSandbox, workspace: Path) -> None:
    read, write = os.pipe()
    try:
        result = bwrap.run(
            _py(f"import os; os.write({write}, b'via fd')"),
            workspace,
            limits=Limits(wall_s=30),
            pass_fds=[write],
        )
    finally:
        os.close(write)
    data = os.read(read, 100)
    os.close(read)
    assert result.exit_code == 0, result.stderr
    assert data == b"via fd"
