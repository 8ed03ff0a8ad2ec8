"""A real browser for the App's tests: Debian's chromium, driven by selenium through its driver."""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
from collections.abc import Iterator
from typing import Any

from tests.required import require_tool

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
needs_chromium = require_tool(
    CHROMIUM and DRIVER, "chromium and chromium-driver", ".ci/run installs Debian's packages"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def headless_chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1600,1000")
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def page_text(browser: Any) -> str:
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(5):  # the review panel redraws itself every few seconds
        with contextlib.suppress(StaleElementReferenceException):
            return str(browser.find_element("tag name", "body").text)
        time.sleep(0.5)
    return ""


def wait_for_text(browser: Any, text: str, wait: float = 240) -> str:
    """The page's text once it shows `text` (the App draws panels after its own start-up)."""
    deadline, seen = time.monotonic() + wait, ""
    while time.monotonic() < deadline:
        seen = page_text(browser)
        if text in seen:
            return seen
        time.sleep(2)
    raise AssertionError(f"the App never showed {text!r}; it showed: {seen[-2000:]}")


def click(browser: Any, label: str, wait: float = 60) -> None:
    """Click the visible button whose text is `label`, once the App has drawn it and nothing
    lies over it (FiftyOne shows its own advert over the panel at a moment of its choosing)."""
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        StaleElementReferenceException,
    )

    deadline = time.monotonic() + wait
    path = f"//button[normalize-space()='{label}']"
    while time.monotonic() < deadline:
        for button in browser.find_elements("xpath", path):
            try:
                if button.is_displayed() and button.is_enabled():
                    browser.execute_script("arguments[0].scrollIntoView()", button)
                    button.click()
                    return
            except StaleElementReferenceException:
                break  # the panel redrew itself (it refreshes while a loop runs): look again
            except ElementClickInterceptedException:
                if label != "Dismiss":
                    with contextlib.suppress(AssertionError):
                        click(browser, "Dismiss", wait=2)
        time.sleep(1)
    raise AssertionError(f"no '{label}' button appeared in the App")


def type_into(browser: Any, label: str, text: str, wait: float = 30) -> None:
    """Type into the form field labelled `label` (an operator's prompt)."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + wait
    # FiftyOne draws a prompt's field title as plain text above its input, not as a <label>.
    path = f"//*[normalize-space(text())='{label}']"
    while time.monotonic() < deadline:
        for field in browser.find_elements("xpath", path):
            try:
                inputs = field.find_elements(
                    "xpath", "following::input[1] | following::textarea[1]"
                )
                if inputs and inputs[0].is_displayed():
                    inputs[0].send_keys(text)
                    return
            except StaleElementReferenceException:
                break  # redrawn under us: look again
        time.sleep(1)
    raise AssertionError(f"no field labelled '{label}' appeared in the App")
