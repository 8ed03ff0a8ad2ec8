"""The review panel in the real FiftyOne App, opened by a real browser (Debian's chromium)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.control.runner import start_loop
from agent.control.workspaces import init_workspace
from agent.deps import build_deps
from agent.entry.review import PLUGINS_DIR, REVIEW_PANEL
from agent.settings import Settings
from tests.fakes import FakeOperations

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="chromium and chromium-driver are not installed (.ci/run installs Debian's packages)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1600,1000")
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()


def _click(browser: object, label: str, wait: float = 60) -> None:
    """Click the visible button whose text is `label`, once the App has drawn it and nothing
    lies over it (FiftyOne shows its own advert over the panel at a moment of its choosing)."""
    from selenium.common.exceptions import ElementClickInterceptedException

    deadline = time.monotonic() + wait
    path = f"//button[normalize-space()='{label}']"
    while time.monotonic() < deadline:
        for button in browser.find_elements("xpath", path):  # type: ignore[attr-defined]
            if button.is_displayed() and button.is_enabled():
                browser.execute_script("arguments[0].scrollIntoView()", button)  # type: ignore[attr-defined]
                try:
                    button.click()
                    return
                except ElementClickInterceptedException:
                    if label != "Dismiss":
                        with contextlib.suppress(AssertionError):
                            _click(browser, "Dismiss", wait=2)
        time.sleep(1)
    raise AssertionError(f"no '{label}' button appeared in the App")


def test_a_reviewer_sees_the_waiting_batch_in_the_app(
    tmp_path: Path, tiny_yaml_path: Path, monkeypatch: pytest.MonkeyPatch, browser: object
) -> None:
    workspace = tmp_path / "ws"
    init_workspace(workspace, tiny_yaml_path)
    deps = build_deps(Settings.load(workspace))
    deps.registry.add_model("v1", workspace / "v1.pt", None, "incumbent", {})
    FakeOperations(deps).install(monkeypatch)  # the loop's work faked; its state is real
    waiting = start_loop(deps, cycles=1, budget=10, auto_approve=False).waiting
    assert waiting is not None
    # Read by the App's server process, where the panel runs.
    monkeypatch.setenv("FIFTYONE_PLUGINS_DIR", str(PLUGINS_DIR))
    monkeypatch.setenv("FAILFORGE_WORKSPACE", str(workspace))
    port = _free_port()
    session = deps.datasets.launch_app(port=port, panel=REVIEW_PANEL)
    try:
        browser.get(f"http://127.0.0.1:{port}/")  # type: ignore[attr-defined]
        deadline, text = time.monotonic() + 240, ""
        while time.monotonic() < deadline:
            text = browser.find_element("tag name", "body").text  # type: ignore[attr-defined]
            if f"waiting for a decision on {waiting['batch_id']}" in text:
                break
            time.sleep(2)
        shot = Path(os.environ.get("FAILFORGE_SCREENSHOT_DIR", tmp_path)) / "review_panel.png"
        browser.save_screenshot(str(shot))  # type: ignore[attr-defined]
        assert f"waiting for a decision on {waiting['batch_id']}" in text, text[-2000:]
        assert "brightness=low" in text and "unrealistic" in text
        assert "Approve batch" in text and "Reject batch" in text
        # Approve in the App: the operator's form, prefilled with the batch, then Execute.
        with contextlib.suppress(AssertionError):  # FiftyOne's own advert, over the panel
            _click(browser, "Dismiss", wait=5)
        _click(browser, "Approve batch")
        _click(browser, "Execute")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            batch = deps.registry.batch(waiting["batch_id"])
            if batch is not None and batch.status != "proposed":
                break
            time.sleep(1)
        batch = deps.registry.batch(waiting["batch_id"])
        assert batch is not None and batch.status == "approved", batch
        assert batch.decided_by == "fiftyone-app"
    finally:
        session.close()
