"""Run pytest in a sandbox and read per-test outcomes from its junit XML, never from stdout.

The XML is written into a fresh directory outside the workspace. A small plugin
(``_pytest_plugin``) is copied once into a private directory put first on ``PYTHONPATH``; it
records exact node ids, failure frames and per-test timeouts as junit properties.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from patchloop.domain import Limits, Outcome, ProcessResult, TestOutcome, TestReport, TestSelection
from patchloop.errors import UsageError
from patchloop.protocols import Sandbox
from patchloop.sandbox import make_temp_dir, remove_tree
from patchloop.verify._paths import PathMapper
from patchloop.verify.junit import JunitError, covers, parse_junit

__all__ = ["PLUGIN_MODULE", "TIMEOUT_ENV", "PytestRunner", "plugin_dir"]

#: Import name of the reporting plugin inside the test process.
PLUGIN_MODULE = "_patchloop_pytest_plugin"
#: Variable that carries the per-test timeout into the plugin.
TIMEOUT_ENV = "_PATCHLOOP_TEST_TIMEOUT"
#: Reports larger than this are not read (a test cannot flood the harness through them).
MAX_REPORT_BYTES = 64 * 1024 * 1024
#: pytest's exit code for usage errors (``ExitCode.USAGE_ERROR``).
USAGE_ERROR = 4
PYTHON_NAMES = frozenset({"python", "python3"})
MISSING_MESSAGE = "not in the report: not collected, deselected, or the run stopped before it"

_plugin_lock = threading.Lock()
_plugin_path: Path | None = None


def plugin_dir() -> Path:
    """The private directory holding the plugin module; made once per process, removed at exit."""
    global _plugin_path  # noqa: PLW0603 - one copy per process
    with _plugin_lock:
        if _plugin_path is None or not (_plugin_path / f"{PLUGIN_MODULE}.py").is_file():
            directory = make_temp_dir("plugin")
            target = directory / f"{PLUGIN_MODULE}.py"
            shutil.copyfile(Path(__file__).with_name("_pytest_plugin.py"), target)
            # Readable by any uid: an isolated sandbox may run tests as an unprivileged user.
            directory.chmod(0o755)
            target.chmod(0o644)
            atexit.register(remove_tree, directory)
            _plugin_path = directory
        return _plugin_path


def _read_report(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


class PytestRunner:
    """A :class:`~patchloop.protocols.TestRunner` for pytest.

    ``cmd`` is the test command (argv, or a string split with shell rules); a leading
    ``python``/``python3`` becomes ``python``, the harness's interpreter. The runner appends its
    own options and then the selected node ids. ``per_test_timeout`` of 0 disables the per-test
    alarm; ``limits.wall_s`` bounds the whole run.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        cmd: Sequence[str] | str,
        *,
        limits: Limits,
        per_test_timeout: float = 30,
        python: str = sys.executable,
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

    def command(self, workspace: Path, report: Path, selection: TestSelection) -> list[str]:
        """The full argv for ``selection``, writing junit XML to ``report``."""
        return [
            *self.cmd,
            "-p",
            PLUGIN_MODULE,
            f"--junitxml={report}",
            "-p",
            "no:cacheprovider",
            # Node ids relative to the project directory, whatever pytest would infer from args.
            f"--rootdir={workspace}",
            # One module that fails to import must not hide the outcomes of all the others.
            "--continue-on-collection-errors",
            *(["-x"] if selection.fail_fast else []),
            *selection.nodeids,
        ]

    def run(self, workspace: Path, selection: TestSelection) -> TestReport:
        """Run ``selection`` in ``workspace`` and return its per-test outcomes."""
        workspace = Path(os.path.abspath(workspace))
        plugin = plugin_dir()
        report_dir = make_temp_dir("report")
        try:
            xml_path = report_dir / "report.xml"
            env = {"PYTHONPATH": str(plugin), TIMEOUT_ENV: f"{self.per_test_timeout:g}"}
            process = self.sandbox.run(
                self.command(workspace, xml_path, selection),
                workspace,
                limits=self.limits,
                env=env,
                readable=(plugin,),
                writable=(report_dir,),
            )
            xml_text = _read_report(xml_path)
        finally:
            remove_tree(report_dir)
        return build_report(process, xml_text, workspace, selection)


def _absent_message(nodeid: str, process: ProcessResult, timed_out: bool) -> str:
    # Output is read here only to explain an absence, never to decide an outcome.
    if timed_out:
        return "the test run hit its wall-clock limit before reporting this test"
    if f"not found: {nodeid}" in process.stdout + process.stderr:
        return "no such test: pytest did not find it"
    if process.exit_code == USAGE_ERROR:
        return "not run: pytest stopped with a usage error (e.g. another selected test not found)"
    return MISSING_MESSAGE


def build_report(
    process: ProcessResult, xml_text: str | None, workspace: Path, selection: TestSelection
) -> TestReport:
    """Combine a finished run and its junit XML (``None`` when absent) into a report."""
    mapper = PathMapper(workspace)
    process = process.model_copy(
        update={"stdout": mapper.scrub(process.stdout), "stderr": mapper.scrub(process.stderr)}
    )
    timed_out = process.killed_by == "wall"
    outcomes: list[TestOutcome] = []
    have_xml = False
    if xml_text is not None:
        try:
            outcomes = parse_junit(xml_text, workspace=workspace)
            have_xml = True
        except JunitError:
            outcomes = []
    if not have_xml and not timed_out:
        return TestReport(process=process, status="no_report", duration_s=process.duration_s)
    reported = [o.nodeid for o in outcomes]
    for nodeid in selection.nodeids:
        if not covers(nodeid, reported):
            outcome = Outcome.TIMEOUT if timed_out else Outcome.MISSING
            message = _absent_message(nodeid, process, timed_out)
            outcomes.append(TestOutcome(nodeid=nodeid, outcome=outcome, message=message))
            reported.append(nodeid)
    return TestReport(
        outcomes=tuple(outcomes),
        process=process,
        status="timeout" if timed_out else "ok",
        duration_s=process.duration_s,
    )
