"""parse_junit on hand-written reports: name inversion, merging, property handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.domain import Outcome
from patchloop.verify.junit import JunitError, covers, parse_junit


def test_without_properties_node_ids_are_reconstructed(tmp_path: Path) -> None:
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "unit" / "test_m.py").write_text("")
    xml = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
      <testcase classname="tests.unit.test_m.TestC" name="test_x[a.b-1]" time="0.5"/>
      <testcase classname="tests.unit.test_m" name="test_y">
        <failure message="assert 1 == 2">long repr</failure></testcase>
      <testcase classname="" name="tests.unit.test_m">
        <error message="collection failure">boom</error></testcase>
      <testcase classname="nowhere.mod" name="test_z"/>
    </testsuite></testsuites>"""
    got = {o.nodeid: o for o in parse_junit(xml, workspace=tmp_path)}
    assert set(got) == {
        "tests/unit/test_m.py::TestC::test_x[a.b-1]",
        "tests/unit/test_m.py::test_y",
        "tests/unit/test_m.py",
        "nowhere.mod::test_z",
    }
    assert got["tests/unit/test_m.py::TestC::test_x[a.b-1]"].duration_s == 0.5
    assert got["tests/unit/test_m.py::test_y"].outcome == Outcome.FAILED
    assert got["tests/unit/test_m.py"].outcome == Outcome.ERROR


def test_properties_win_and_the_worst_duplicate_is_kept(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    frames = (
        "[{&quot;path&quot;: &quot;" + str(ws) + "/pkg/a.py&quot;, &quot;line&quot;: 3, "
        "&quot;function&quot;: &quot;f&quot;}, {&quot;path&quot;: &quot;/usr/lib/x.py&quot;, "
        "&quot;line&quot;: 9, &quot;function&quot;: &quot;g&quot;}]"
    )
    xml = f"""<testsuites><testsuite>
      <testcase classname="weird" name="name">
        <properties><property name="patchloop.nodeid" value="t/test_a.py::test_f"/>
        <property name="patchloop.frames" value="{frames}"/></properties>
        <failure message="AssertionError: at {ws}/pkg/a.py&#10;second line">
          File {ws}/pkg/a.py, tmp /dev/shm/patchloop-run-ab_12/tmp/x</failure>
      </testcase>
      <testcase classname="weird" name="name">
        <properties><property name="patchloop.nodeid" value="t/test_a.py::test_f"/></properties>
        <error message="failed on teardown">teardown</error>
      </testcase>
      <testcase classname="c" name="n"><properties>
        <property name="patchloop.nodeid" value="t/test_a.py::test_xp"/>
        <property name="patchloop.outcome" value="xpassed"/></properties></testcase>
      <testcase classname="c" name="n2"><properties>
        <property name="patchloop.nodeid" value="t/test_a.py::test_xf"/></properties>
        <skipped type="pytest.xfail" message="why"/></testcase>
      <testcase classname="c" name="n3"><properties>
        <property name="patchloop.nodeid" value="t/test_a.py::test_slow"/>
        <property name="patchloop.timeout" value="2.5"/></properties>
        <failure message="TestTimeout">x</failure></testcase>
    </testsuite></testsuites>"""
    outcomes = parse_junit(xml, workspace=ws)
    by_id = {o.nodeid: o for o in outcomes}
    assert [o.nodeid for o in outcomes] == [
        "t/test_a.py::test_f",
        "t/test_a.py::test_xp",
        "t/test_a.py::test_xf",
        "t/test_a.py::test_slow",
    ]
    f = by_id["t/test_a.py::test_f"]
    assert f.outcome == Outcome.FAILED
    assert f.message == "AssertionError: at pkg/a.py"
    assert "File pkg/a.py" in f.details
    assert "tmp <tmp>/tmp/x" in f.details
    assert [(fr.path, fr.line, fr.in_repo) for fr in f.frames] == [
        ("pkg/a.py", 3, True),
        ("/usr/lib/x.py", 9, False),
    ]
    assert by_id["t/test_a.py::test_xp"].outcome == Outcome.XPASSED
    assert by_id["t/test_a.py::test_xf"].outcome == Outcome.XFAILED
    slow = by_id["t/test_a.py::test_slow"]
    assert slow.outcome == Outcome.TIMEOUT
    assert slow.message == "timeout: test ran longer than 2.5 s"


def test_installed_packages_inside_the_workspace_are_not_in_repo(tmp_path: Path) -> None:
    frames = (
        f"[{{&quot;path&quot;: &quot;{tmp_path}/.venv/lib/site-packages/lib.py&quot;, "
        "&quot;line&quot;: 1, &quot;function&quot;: &quot;f&quot;}]"
    )
    xml = f"""<testsuites><testsuite><testcase classname="a" name="b"><properties>
      <property name="patchloop.nodeid" value="a.py::b"/>
      <property name="patchloop.frames" value="{frames}"/></properties>
      <failure message="x">x</failure></testcase></testsuite></testsuites>"""
    (outcome,) = parse_junit(xml, workspace=tmp_path)
    assert outcome.frames[0].path == ".venv/lib/site-packages/lib.py"
    assert not outcome.frames[0].in_repo


@pytest.mark.parametrize("text", ["", "<html/>", "<testsuites>"])
def test_not_junit(text: str, tmp_path: Path) -> None:
    with pytest.raises(JunitError):
        parse_junit(text, workspace=tmp_path)


def test_covers() -> None:
    reported = ["a.py::t[1]", "a.py::C::m", "b.py"]
    assert covers("a.py::t", reported)
    assert covers("a.py", reported)
    assert covers("a.py::C", reported)
    assert covers("b.py", reported)
    assert not covers("a.py::u", reported)
    assert not covers("a.py::t[2]", reported)


def test_property_names_match_the_plugin() -> None:
    # The plugin cannot import patchloop, so the names are written twice.
    from patchloop.verify import _pytest_plugin as plugin
    from patchloop.verify import junit, pytest_runner

    assert plugin.PROP_NODEID == junit.PROP_NODEID
    assert plugin.PROP_FRAMES == junit.PROP_FRAMES
    assert plugin.PROP_TIMEOUT == junit.PROP_TIMEOUT
    assert plugin.PROP_OUTCOME == junit.PROP_OUTCOME
    assert plugin.PROP_ARGUMENTS == junit.PROP_ARGUMENTS
    assert plugin.TIMEOUT_ENV == pytest_runner.TIMEOUT_ENV
