"""Run pytest in a sandbox and read per-test outcomes from the plugin's report, never from stdout.

A small plugin (``_pytest_plugin``) is copied once into a private directory put first on
``PYTHONPATH``. It records exact node ids, failure frames and per-test timeouts as junit
properties and sends the junit XML, with the node ids pytest collected, as one frame through a
pipe the harness opened and passed in: no path of the report is reachable from the sandbox. The
frame is checked strictly (see :mod:`~patchloop.verify._frame`) and cross-checked against the
collected node ids and the exit status; a report that fails a check grades every selected test
as failed, so tampering can only ever cost a patch, never pass it.

When the sandbox offers warm interpreters and the command is ``python -m pytest``, a run is a
fork of an interpreter that already imported pytest and its plugins (see
:mod:`patchloop.sandbox.warm`); otherwise the command starts cold. Runs that fail for reasons
of the infrastructure (a sandbox that cannot start, a warm interpreter that died) are retried
cold; nothing else is.
"""

from __future__ import annotations

import atexit
import logging
import os
import shlex
import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from patchloop.domain import Limits, ProcessResult, TestReport, TestSelection
from patchloop.errors import UsageError
from patchloop.protocols import PassesDescriptors, Sandbox, WarmRunner, WarmSandbox
from patchloop.sandbox import make_temp_dir, read_untrusted, remove_tree
from patchloop.verify._report import build_report

__all__ = [
    "PLUGIN_MODULE",
    "REPORT_FD_ENV",
    "TIMEOUT_ENV",
    "PytestRunner",
    "build_report",
    "plugin_dir",
]

log = logging.getLogger("patchloop.verify")

#: Import name of the reporting plugin inside the test process.
PLUGIN_MODULE = "_patchloop_pytest_plugin"
#: Variable that carries the per-test timeout into the plugin.
TIMEOUT_ENV = "_PATCHLOOP_TEST_TIMEOUT"
#: Variable naming the descriptor the plugin writes its report frame to.
REPORT_FD_ENV = "_PATCHLOOP_REPORT_FD"
#: Variable naming a report file instead, for sandboxes that cannot pass descriptors.
REPORT_PATH_ENV = "_PATCHLOOP_REPORT_PATH"
#: Reports larger than this are not read (a test cannot flood the harness through them).
MAX_REPORT_BYTES = 64 * 1024 * 1024
PYTHON_NAMES = frozenset({"python", "python3"})
#: How long to wait for the report channel to close after the run ended.
CHANNEL_GRACE_S = 2.0

_plugin_lock = threading.Lock()
_plugin_path: Path | None = None
_plugin_owner: int | None = None


def plugin_dir() -> Path:
    """The private directory holding the plugin module; made once per process, removed at exit."""
    global _plugin_path, _plugin_owner
    with _plugin_lock:
        if _plugin_path is None or not (_plugin_path / f"{PLUGIN_MODULE}.py").is_file():
            directory = make_temp_dir("plugin")
            target = directory / f"{PLUGIN_MODULE}.py"
            shutil.copyfile(Path(__file__).with_name("_pytest_plugin.py"), target)
            # Readable by any uid: an isolated sandbox may run tests as an unprivileged user.
            directory.chmod(0o755)
            target.chmod(0o644)
            # Only the process that made it removes it (a forked child exiting must not).
            atexit.register(_remove_if_owner, directory, os.getpid())
            _plugin_path, _plugin_owner = directory, os.getpid()
        return _plugin_path


def _remove_if_owner(directory: Path, owner: int) -> None:
    if os.getpid() == owner and directory.exists():
        remove_tree(directory)


def release_plugin_dir() -> None:
    """Remove the plugin directory now if this process made it: for processes that end with
    ``os._exit`` (forked job processes), where ``atexit`` does not run."""
    global _plugin_path  # noqa: PLW0603 - one copy per process
    with _plugin_lock:
        if _plugin_path is not None and _plugin_owner == os.getpid():
            remove_tree(_plugin_path)
            _plugin_path = None


class _Channel:
    """A pipe the plugin writes its report into; a thread drains it up to a cap."""

    def __init__(self) -> None:
        self._read, self.fd = os.pipe()
        self._data = bytearray()
        self.overflow = False
        self._thread = threading.Thread(target=self._drain, name="patchloop-report", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while chunk := os.read(self._read, 65536):
                if len(self._data) + len(chunk) > MAX_REPORT_BYTES:
                    self.overflow = True
                    continue
                self._data += chunk
        finally:
            os.close(self._read)

    def close_writer(self) -> None:
        """Drop the harness's copy of the write end (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def finish(self) -> bytes:
        """Everything written, once every writer closed (or the grace period ran out)."""
        self.close_writer()
        self._thread.join(CHANNEL_GRACE_S)
        return bytes(self._data)


class PytestRunner:
    """A :class:`~patchloop.protocols.TestRunner` for pytest.

    ``cmd`` is the test command (argv, or a string split with shell rules); a leading
    ``python``/``python3`` becomes ``python``, the harness's interpreter. The runner appends its
    own options and then the selected node ids. ``per_test_timeout`` of 0 disables the per-test
    alarm; ``limits.wall_s`` bounds the whole run.

    ``warm`` uses a warm interpreter where the sandbox has one. ``plugin_autoload=False`` sets
    ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` (faster cold starts, but a project that relies on an
    installed plugin such as pytest-asyncio then needs it in ``plugins``, loaded with ``-p``).
    ``retries`` is how often a run that failed for infrastructure reasons is tried again.
    ``lane`` picks the sandbox's warm interpreters: runners in different lanes run at the
    same time.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        cmd: Sequence[str] | str,
        *,
        limits: Limits,
        per_test_timeout: float = 30,
        python: str = sys.executable,
        warm: bool = True,
        plugin_autoload: bool = True,
        plugins: Sequence[str] = (),
        retries: int = 1,
        lane: int = 0,
    ) -> None:
        argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        if not argv:
            raise UsageError("the test command is empty", hint="e.g. --test-cmd 'python -m pytest'")
        if argv[0] in PYTHON_NAMES:
            argv[0] = python
        self.sandbox = sandbox
        self.cmd = tuple(argv)
        self.limits = limits
        self.per_test_timeout = per_test_timeout
        self.python = python
        self.warm = warm
        self.plugin_autoload = plugin_autoload
        self.plugins = tuple(plugins)
        self.retries = max(retries, 0)
        self.lane = lane
        self._fds = isinstance(sandbox, PassesDescriptors) and sandbox.passes_descriptors

    def options(self, workspace: Path, selection: TestSelection) -> list[str]:
        """What the runner appends to the test command for ``selection``."""
        pinned = [arg for name in self.plugins for arg in ("-p", name)]
        return [
            "-p",
            PLUGIN_MODULE,
            *pinned,
            "-p",
            "no:cacheprovider",
            # A fixed test order: pytest-randomly, where installed, would shuffle it per run.
            "-p",
            "no:randomly",
            # Node ids relative to the project directory, whatever pytest would infer from args.
            f"--rootdir={workspace}",
            # One module that fails to import must not hide the outcomes of all the others.
            "--continue-on-collection-errors",
            *(["-x"] if selection.fail_fast else []),
            *selection.nodeids,
        ]

    def command(self, workspace: Path, selection: TestSelection) -> list[str]:
        """The full argv for ``selection``."""
        return [*self.cmd, *self.options(workspace, selection)]

    def environment(self, plugin: Path) -> dict[str, str]:
        """Variables added to the sandbox's clean environment for every run."""
        env = {"PYTHONPATH": str(plugin), TIMEOUT_ENV: f"{self.per_test_timeout:g}"}
        if not self.plugin_autoload:
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        return env

    @property
    def warm_capable(self) -> bool:
        """Whether the command is ``python -m pytest`` on the runner's own interpreter."""
        return (
            self.warm
            and self.cmd[0] == self.python
            and self.cmd[1:3] == ("-m", "pytest")
            and self._fds
            and isinstance(self.sandbox, WarmSandbox)
        )

    def run(self, workspace: Path, selection: TestSelection) -> TestReport:
        """Run ``selection`` in ``workspace`` and return its per-test outcomes."""
        workspace = Path(os.path.abspath(workspace))
        report = self._run_once(workspace, selection, warm=True)
        for _ in range(self.retries):
            process = report.process
            if process is None or process.error is None:
                break
            log.warning("test run failed for infrastructure reasons, retrying: %s", process.error)
            report = self._run_once(workspace, selection, warm=False)
        return report

    def _run_once(self, workspace: Path, selection: TestSelection, *, warm: bool) -> TestReport:
        plugin = plugin_dir()
        env = self.environment(plugin)
        if not self._fds:
            return self._run_with_file(workspace, selection, env, plugin)
        channel = _Channel()
        try:
            env[REPORT_FD_ENV] = str(channel.fd)
            process = self._start(workspace, selection, env, plugin, channel.fd, warm=warm)
            raw = channel.finish()
        finally:
            channel.close_writer()
        if channel.overflow:
            raw = b"report larger than the harness reads"
        return build_report(process, raw or None, workspace, selection)

    def _start(
        self,
        workspace: Path,
        selection: TestSelection,
        env: dict[str, str],
        plugin: Path,
        fd: int,
        *,
        warm: bool,
    ) -> ProcessResult:
        server = self._server(plugin) if warm and self.warm_capable else None
        if server is not None and server.accepts(workspace):
            args = [*self.cmd[1:], *self.options(workspace, selection)]
            result: ProcessResult = server.run(
                args, workspace, limits=self.limits, env=env, pass_fds=(fd,)
            )
            return result
        return self.sandbox.run(
            self.command(workspace, selection),
            workspace,
            limits=self.limits,
            env=env,
            readable=(plugin,),
            pass_fds=(fd,),
        )

    def _server(self, plugin: Path) -> WarmRunner | None:
        preload = f"{PLUGIN_MODULE}:{'warm' if self.plugin_autoload else 'warm_core'}"
        if not isinstance(self.sandbox, WarmSandbox):
            return None
        return self.sandbox.warm_python(
            self.python,
            [preload],
            env={"PYTHONPATH": str(plugin)},
            readable=(plugin,),
            lane=self.lane,
        )

    def _run_with_file(
        self, workspace: Path, selection: TestSelection, env: dict[str, str], plugin: Path
    ) -> TestReport:
        report_dir = make_temp_dir("report")
        try:
            path = report_dir / "report.bin"
            env[REPORT_PATH_ENV] = str(path)
            process = self.sandbox.run(
                self.command(workspace, selection),
                workspace,
                limits=self.limits,
                env=env,
                readable=(plugin,),
                writable=(report_dir,),
            )
            raw = _read_file(path)
        finally:
            remove_tree(report_dir)
        return build_report(process, raw, workspace, selection)


def _read_file(path: Path) -> bytes | None:
    # The sandbox can write where the report goes: a FIFO or a link to /dev/zero there must
    # neither hang the harness nor fill its memory.
    data = read_untrusted(path, MAX_REPORT_BYTES)
    if data is not None and len(data) > MAX_REPORT_BYTES:
        return b"report larger than the harness reads"
    return data
