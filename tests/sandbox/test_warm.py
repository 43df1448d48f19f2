"""Warm interpreters (fork servers) in both sandboxes: fidelity, limits, cleanup, failure."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from patchloop.domain import Limits
from patchloop.sandbox.bwrap import BwrapSandbox
from patchloop.sandbox.local import LocalSandbox
from patchloop.sandbox.warm import WarmRunner
from tests.sandbox._support import require_bwrap

PY = sys.executable


@pytest.fixture(scope="module", params=["bwrap", "local"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[BwrapSandbox | LocalSandbox]:
    if request.param == "bwrap":
        require_bwrap()
        box: BwrapSandbox | LocalSandbox = BwrapSandbox()
    else:
        box = LocalSandbox()
    yield box
    box.close()


@pytest.fixture(scope="module")
def warm(sandbox: BwrapSandbox | LocalSandbox) -> WarmRunner:
    server = sandbox.warm_python(PY, ["json", "textwrap"])
    assert server is not None
    return server


@pytest.fixture(scope="module")
def workspace(
    sandbox: BwrapSandbox | LocalSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("warm") / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "main.py").write_text("import sys, pkg\nprint('main', pkg.VALUE, sys.argv[1:])\n")
    with sandbox.workspace(root) as ws:
        yield ws


def _script(workspace: Path, name: str, code: str) -> str:
    (workspace / name).write_text(textwrap.dedent(code))
    return name


def test_runs_modules_and_scripts_like_a_fresh_interpreter(
    warm: WarmRunner, workspace: Path
) -> None:
    assert warm.accepts(workspace)
    result = warm.run(["main.py", "a", "b"], workspace, limits=Limits(wall_s=30))
    assert (result.exit_code, result.stdout) == (0, "main 1 ['a', 'b']\n"), result.stderr
    probe = _script(
        workspace,
        "probe.py",
        """
        import os, sys
        print(sys.path[0] == os.getcwd(), os.environ.get("GIVEN"), "pkg" in sys.modules)
        sys.exit(3)
        """,
    )
    result = warm.run(["-m", probe[:-3]], workspace, limits=Limits(wall_s=30), env={"GIVEN": "yes"})
    assert (result.exit_code, result.stdout.split()) == (3, ["True", "yes", "False"])


def test_each_run_starts_from_the_same_state(warm: WarmRunner, workspace: Path) -> None:
    code = """
        import json, os, tempfile
        marker = os.path.join(tempfile.gettempdir(), "left-behind")
        print(os.path.exists(marker), getattr(json, "poisoned", False), os.path.exists("new.txt"))
        open(marker, "w").write("x")
        open("new.txt", "w").write("x")
        json.poisoned = True
    """
    name = _script(workspace, "state.py", code)
    first = warm.run([name], workspace, limits=Limits(wall_s=30))
    second = warm.run([name], workspace, limits=Limits(wall_s=30))
    assert first.stdout == "False False False\n", first.stderr
    assert second.stdout.startswith("False False"), second.stderr
    if "bwrap" in type(warm).__module__:
        assert second.stdout == "False False False\n"  # a private copy and /tmp per run


def test_limits_hold(warm: WarmRunner, workspace: Path) -> None:
    spin = warm.run(["-c", "while True: pass"], workspace, limits=Limits(wall_s=30, cpu_s=1))
    assert spin.killed_by == "cpu"
    start = time.monotonic()
    nap = warm.run(
        [_script(workspace, "nap.py", "import time; time.sleep(60)")],
        workspace,
        limits=Limits(wall_s=1),
    )
    assert nap.killed_by == "wall"
    assert time.monotonic() - start < 6
    flood = warm.run(
        [_script(workspace, "flood.py", "while True: print('spam' * 100)")],
        workspace,
        limits=Limits(wall_s=30, output_bytes=32 * 1024),
    )
    assert flood.killed_by == "output"
    assert flood.output_truncated
    hog = warm.run(
        [_script(workspace, "hog.py", "b = bytearray(1 << 30)")],
        workspace,
        limits=Limits(wall_s=30, memory_bytes=512 * 1024 * 1024),
    )
    assert hog.killed_by == "memory"
    # The server survived all of it.
    again = warm.run(["main.py"], workspace, limits=Limits(wall_s=30))
    assert again.exit_code == 0, again.stderr


def test_setsid_daemons_do_not_survive(warm: WarmRunner, workspace: Path) -> None:
    code = """
        import os, subprocess
        p = subprocess.Popen(["sleep", "600"], start_new_session=True)
        print(p.pid)
    """
    result = warm.run([_script(workspace, "daemon.py", code)], workspace, limits=Limits(wall_s=30))
    assert result.exit_code == 0, result.stderr
    follow = warm.run(
        [_script(workspace, "count.py", "import os; print(len(os.listdir('/proc')))")],
        workspace,
        limits=Limits(wall_s=30),
    )
    assert follow.exit_code == 0
    if "bwrap" in type(warm).__module__:
        return  # pid namespace: checked in the isolation tests; nothing of it is visible here
    pid = int(result.stdout)
    deadline = time.monotonic() + 3
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    else:
        assert not Path(f"/proc/{pid}").exists()


def test_a_dead_server_is_an_infrastructure_failure_then_replaced(
    sandbox: BwrapSandbox | LocalSandbox, workspace: Path
) -> None:
    warm = sandbox.warm_python(PY, ["json"])
    assert warm is not None
    os.killpg(warm.server.proc.pid, signal.SIGKILL)
    warm.server.proc.wait()
    result = warm.run(["main.py"], workspace, limits=Limits(wall_s=30))
    assert result.exit_code is None
    assert result.error
    fresh = sandbox.warm_python(PY, ["json"])
    assert fresh is not None
    assert fresh is not warm
    assert fresh.run(["main.py"], workspace, limits=Limits(wall_s=30)).exit_code == 0


def test_a_project_module_shadowing_a_preloaded_one_runs_fresh(
    warm: WarmRunner, workspace: Path
) -> None:
    (workspace / "textwrap.py").write_text("MINE = True\n")
    try:
        code = "import textwrap; print(getattr(textwrap, 'MINE', False))"
        result = warm.run(
            [_script(workspace, "shadow.py", code)], workspace, limits=Limits(wall_s=30)
        )
    finally:
        (workspace / "textwrap.py").unlink()
    assert result.stdout.strip() == "True", result.stderr


def test_lanes_have_servers_of_their_own_that_run_at_the_same_time(
    sandbox: BwrapSandbox | LocalSandbox, workspace: Path
) -> None:
    first = sandbox.warm_python(PY, ["json"], lane=1)
    second = sandbox.warm_python(PY, ["json"], lane=2)
    assert first is not None
    assert second is not None
    assert first is not second
    assert sandbox.warm_python(PY, ["json"], lane=1) is first
    # Each run prints when it started and ended, sleeping in between: with one server for
    # both lanes, one run would start only after the other ended.
    timed = _script(
        workspace,
        "timed.py",
        """
        import time
        start = time.time()
        time.sleep(5)
        print(start, time.time())
        """,
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [
            pool.submit(warm.run, [timed], workspace, limits=Limits(wall_s=60))
            for warm in (first, second)
        ]
        spans = [tuple(map(float, r.result().stdout.split())) for r in runs]
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start < b_end
    assert b_start < a_end
