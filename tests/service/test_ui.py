"""The web UI in a real headless Chromium, driven over the W3C WebDriver protocol
(chromedriver speaks HTTP; no client library needed): submit a repair of the example, watch it
reach "verified", see the diff, the attempts and the SLO page. Screenshots go to
``$SERVICE_UI_SCREENSHOTS`` (default: the test's temporary directory)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import PATIENCE_S, free_port, quickstart

pytestmark = pytest.mark.slow

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


class Browser:
    """One WebDriver session."""

    def __init__(self, driver_url: str) -> None:
        self.http = httpx.Client(base_url=driver_url, timeout=PATIENCE_S)
        options = {
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1280,1000",
            ],
        }
        caps = {"browserName": "chrome", "goog:chromeOptions": options}
        reply = self._post("/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = f"/session/{reply['sessionId']}"

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()["value"]

    def go(self, url: str) -> None:
        self._post(f"{self.session}/url", {"url": url})

    def find(self, css: str) -> str:
        found = self._post(f"{self.session}/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT])

    def type(self, css: str, value: str) -> None:
        element = self.find(css)
        self._post(f"{self.session}/element/{element}/clear", {})
        self._post(f"{self.session}/element/{element}/value", {"text": value})

    def click(self, css: str) -> None:
        self._post(f"{self.session}/element/{self.find(css)}/click", {})

    def js(self, script: str) -> Any:
        return self._post(f"{self.session}/execute/sync", {"script": script, "args": []})

    def wait_for(self, script: str) -> Any:
        """Evaluate ``script`` until it returns something truthy."""
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline:
            value = self.js(script)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(
            f"never true: {script}; page says {self.js('return document.body.innerText')}"
        )

    def screenshot(self, path: Path) -> None:
        response = self.http.get(f"{self.session}/screenshot")
        path.write_bytes(base64.b64decode(response.json()["value"]))

    def close(self) -> None:
        self.http.delete(self.session)
        self.http.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium and chromedriver are not installed (scripts/setup all installs them)")
    port = free_port()
    log = (tmp_path / "chromedriver.log").open("wb")
    driver = subprocess.Popen([DRIVER, f"--port={port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + PATIENCE_S
    while True:
        try:
            if httpx.get(f"{url}/status", timeout=2).json()["value"]["ready"]:
                break
        except (httpx.TransportError, ValueError):
            pass
        assert time.monotonic() < deadline, "chromedriver did not start"
        time.sleep(0.1)
    session = Browser(url)
    try:
        yield session
    finally:
        session.close()
        driver.terminate()
        driver.wait(timeout=30)
        log.close()


def test_repair_in_the_browser(
    browser: Browser, server_factory: Any, roots: Path, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("SERVICE_UI_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    repo = quickstart(roots)
    server = server_factory(workers=1)
    token = server.key("web")
    browser.go(server.url + "/")
    assert browser.js("return document.title") == "patchloop"
    browser.type("#key", token)
    browser.click("#save-key")
    browser.type("#repo", str(repo))
    browser.type("#task", "the volume discount starts one cent too late")
    browser.click("#submit")

    browser.wait_for("return document.getElementById('run-verdict').textContent === 'verified'")
    browser.screenshot(shots / "run-verified.png")
    added = browser.js(
        "return [...document.querySelectorAll('#diff .add')].map(e => e.textContent)"
    )
    assert "+    if subtotal >= THRESHOLD:" in added
    removed = browser.js(
        "return [...document.querySelectorAll('#diff .del')].map(e => e.textContent)"
    )
    assert "-    if subtotal > THRESHOLD:" in removed
    events = browser.js(
        "return [...document.querySelectorAll('#events .event')].map(e => e.textContent)"
    )
    assert events[-1].startswith("job.end")
    assert any(e.startswith("baseline.end") for e in events)
    statuses = browser.js(
        "return [...document.querySelectorAll('#attempts tbody tr td:nth-child(3)')]"
        ".map(e => e.textContent)"
    )
    assert "verified" in statuses

    browser.go(server.url + "/#/runs")
    ids = browser.wait_for(
        "const rows = [...document.querySelectorAll('#runs tbody tr')];"
        "return rows.length ? rows.map(r => r.dataset.id) : null"
    )
    assert len(ids) == 1
    browser.screenshot(shots / "runs.png")

    browser.go(server.url + "/#/slo")
    names = browser.wait_for(
        "const rows = [...document.querySelectorAll('#slo tbody tr')];"
        "return rows.length ? rows.map(r => r.dataset.name) : null"
    )
    assert names == ["time_to_verdict", "verified_share", "infra_failure_share"]
    browser.screenshot(shots / "slo.png")
    assert (shots / "run-verified.png").read_bytes()[:4] == b"\x89PNG"
