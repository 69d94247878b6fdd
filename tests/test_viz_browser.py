"""The dashboard in a real browser: `solara run` on a free port, driven by Playwright in Chromium.

Uses Debian's chromium (``apt-get install chromium``; scripts/test.sh installs it) or the browser
named by ``BUBBLE_ABM_CHROMIUM``; Playwright cannot download its own browser here. Without a
browser the tests are skipped, unless ``BUBBLE_ABM_REQUIRE_BROWSER=1`` (set by scripts/test.sh),
which turns the skip into a failure.

The screenshot is written to the test's tmp folder (the path is printed); with
``BUBBLE_ABM_WRITE_SCREENSHOT=1`` it also replaces ``docs/img/dashboard.png``, the README's
picture::

    BUBBLE_ABM_WRITE_SCREENSHOT=1 bash scripts/test.sh tests/test_viz_browser.py
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "docs" / "img" / "dashboard.png"
N_TILES_WITH_PLOTS = 9  # 7 time series, balance sheets, money flows
VIEWPORT = {"width": 1400, "height": 2560}  # tall enough for the whole grid in one picture
SERVER_START_TIMEOUT_S = 60.0
UI_TIMEOUT_MS = 30_000
# the quarter shown, or undefined while the page is being rebuilt (a scenario was picked)
QUARTER_JS = "document.querySelector('.bubble-quarter')?.textContent"
# flags for Debian's chromium in a container (STACK-NOTES); Playwright adds --headless
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str | None:
    named = os.environ.get("BUBBLE_ABM_CHROMIUM")
    if named:
        return named
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`solara run bubble_abm.viz.app --production` on a free port; killed afterwards."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("solara") / "server.log"
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false"}
    command = [sys.executable, "-m", "solara", "run", "bubble_abm.viz.app",
               "--host", "127.0.0.1", "--port", str(port), "--production"]
    url = f"http://127.0.0.1:{port}/"
    with log_path.open("w") as log:
        started = time.monotonic()
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO)
        try:
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"solara exited with {proc.returncode}:\n{log_path.read_text()}")
                if time.monotonic() - started > SERVER_START_TIMEOUT_S:
                    pytest.fail(f"solara not ready after {SERVER_START_TIMEOUT_S:.0f} s:\n"
                                f"{log_path.read_text()}")
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    time.sleep(0.2)
            print(f"\nsolara ready at {url} after {time.monotonic() - started:.1f} s")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # it can wait for open sessions: do not wait
                proc.kill()
                proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        message = ("no chromium found (apt-get install chromium, or set BUBBLE_ABM_CHROMIUM)")
        if os.environ.get("BUBBLE_ABM_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Dashboard:
    """One browser session on the dashboard, recording console errors and outside requests."""

    def __init__(self, browser, url: str):
        self.url = url
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(UI_TIMEOUT_MS)
        self.errors: list[str] = []
        self.outside_requests: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("request", self._on_request)
        started = time.monotonic()
        self.page.goto(url)
        self.page.wait_for_selector(".bubble-quarter")
        self.page.wait_for_function(
            f"document.querySelectorAll('.bubble-plot img').length == {N_TILES_WITH_PLOTS}")
        self.load_seconds = time.monotonic() - started

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def _on_request(self, request) -> None:
        if not request.url.startswith((self.url, "data:", "blob:")):
            self.outside_requests.append(request.url)

    def quarter(self) -> str:
        return self.page.inner_text(".bubble-quarter")

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def click(self, label: str, wait_for_quarter: str | None = None) -> None:
        """Click a SolaraViz button; wait until the quarter shown changes (or is the one given)."""
        before = self.quarter()
        self.page.get_by_role("button", name=label, exact=True).click()
        if wait_for_quarter is None:
            self.page.wait_for_function(
                f"q => {QUARTER_JS} != q", arg=before)
        else:
            self.page.wait_for_function(
                f"q => {QUARTER_JS} == q",
                arg=wait_for_quarter)
        self.page.wait_for_timeout(300)  # images of the same render arrive just after the text

    def slider(self, label: str):
        """The thumb of the slider whose label is ``label`` (Mesa's "Model Parameters" card)."""
        field = self.page.locator(".v-input", has=self.page.get_by_text(label, exact=True))
        return field.locator("[role=slider]")

    def plot_image(self, key: str) -> bytes:
        """Pixels of one plot tile (``key`` of bubble_abm.viz.figures.PLOTS)."""
        return self.page.locator(f".bubble-plot-{key} img").screenshot()

    def plot_images(self) -> list[bytes]:
        """Pixels of each plot tile as shown (PNG screenshots of the <img> elements)."""
        images = self.page.locator(".bubble-plot img")
        return [images.nth(i).screenshot() for i in range(images.count())]

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def session(server, browser):
    """One page for the module (a page load costs about 5 s); each test starts from Reset."""
    session = Dashboard(browser, server)
    yield session
    session.close()


@pytest.fixture
def dashboard(session):
    if session.quarter() != "none yet":
        session.click("Reset", wait_for_quarter="none yet")
    yield session
    assert session.errors == []


def _distinct_colours(png: bytes) -> int:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    return len(colours) if colours is not None else 1 << 16


def test_page_loads_offline_without_console_errors_steps_and_plays(session, dashboard):
    print(f"\npage with plots after {session.load_seconds:.1f} s")
    assert dashboard.quarter() == "none yet"
    assert "baseline" in dashboard.text(".bubble-status")
    before = dashboard.plot_images()
    assert len(before) == N_TILES_WITH_PLOTS
    dashboard.click("Step", wait_for_quarter="2023Q1")
    assert "step 1 of 40" in dashboard.text(".bubble-status")
    after = dashboard.plot_images()
    assert len(after) == N_TILES_WITH_PLOTS
    for old, new in zip(before, after, strict=True):
        assert _distinct_colours(new) > 20  # axes, text and lines, not a blank tile
        assert new != old  # the quarter's data was drawn
    assert "Spend chain" in dashboard.text(".bubble-chain")
    # Play runs quarter after quarter until paused
    dashboard.click("\u25b6", wait_for_quarter="2023Q2")
    dashboard.page.wait_for_function(f"{QUARTER_JS} == '2023Q3'")
    dashboard.page.get_by_role("button", name="\u275a\u275a").click()
    dashboard.page.get_by_role("button", name="\u25b6").wait_for()  # paused
    # a quarter under way when paused still finishes; then the quarter shown stays put for
    # longer than a quarter takes while playing
    for _ in range(4):
        paused_at = dashboard.quarter()
        dashboard.page.wait_for_timeout(2000)
        if dashboard.quarter() == paused_at:
            break
    assert dashboard.quarter() == paused_at
    assert dashboard.outside_requests == []  # front-end assets come from the installed packages


def test_screenshot(dashboard, tmp_path):
    """Twenty-one quarters in one click (Render Interval 21), then the whole page."""
    # after a Reset with untouched sliders the model has exactly the scenario's parameters
    assert dashboard.text(".bubble-changes") == "none"
    interval = dashboard.slider("Render Interval (steps)")
    interval.focus()
    for _ in range(10):  # 1 -> 21 in steps of 2
        interval.press("ArrowRight")
    dashboard.page.wait_for_function(
        "el => el.getAttribute('aria-valuenow') == '21'", arg=interval.element_handle())
    dashboard.click("Step", wait_for_quarter="2028Q1")
    dashboard.page.wait_for_timeout(700)
    path = tmp_path / "dashboard.png"
    dashboard.page.screenshot(path=str(path))
    print(f"\nscreenshot: {path}")
    assert _distinct_colours(path.read_bytes()) > 200
    if os.environ.get("BUBBLE_ABM_WRITE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)
        print(f"README picture updated: {SCREENSHOT}")
    interval.focus()
    interval.press("Home")  # back to one quarter per Step for the next test
    dashboard.page.wait_for_function(
        "el => el.getAttribute('aria-valuenow') == '1'", arg=interval.element_handle())
    assert dashboard.errors == []


def test_slider_and_reset_build_a_different_model(dashboard):
    """Last in the file: it leaves a slider moved for the session."""
    # The trend followers move the first quarter's equity index; with the calibrated baseline
    # the algorithmic trend does not change any first-quarter headline at display precision.
    dashboard.click("Step", wait_for_quarter="2023Q1")
    equity_before = dashboard.text(".bubble-equity_index")
    thumb = dashboard.slider("Trend followers (share)")
    assert thumb.get_attribute("aria-valuenow") == "0.3"
    thumb.focus()
    thumb.press("ArrowRight")  # one step: 0.3 -> 0.35
    dashboard.page.wait_for_function(
        "el => el.getAttribute('aria-valuenow') == '0.35'", arg=thumb.element_handle())
    dashboard.click("Reset", wait_for_quarter="none yet")
    assert "initial_trend_follower_share = 0.35 (scenario 0.3)" in dashboard.text(
        ".bubble-changes")
    dashboard.click("Step", wait_for_quarter="2023Q1")
    assert dashboard.text(".bubble-equity_index") != equity_before
    assert dashboard.errors == []


def test_scenario_picker_starts_a_run_of_that_scenario(dashboard):
    """After the slider test: picking a scenario also puts the sliders back."""
    dashboard.page.locator(".bubble-scenario-picker .v-select").click()
    dashboard.page.get_by_role("option", name="data_wall", exact=True).click()
    dashboard.page.wait_for_function(
        "document.querySelector('.bubble-scenario')?.textContent == 'data_wall'")
    assert dashboard.quarter() == "none yet"
    assert dashboard.slider("Extra data worth (x stock)").get_attribute("aria-valuenow") == "0.1"
    assert dashboard.slider("Algo. doubling (years)").get_attribute("aria-valuenow") == "0.7"
    dashboard.click("Step", wait_for_quarter="2023Q1")
    assert dashboard.text(".bubble-changes") == "none"
