"""The review panel in the real FiftyOne App, opened by a real browser (Debian's chromium)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.bootstrap import build_deps
from agent.control.runner import LoopDriver
from agent.control.workspaces import init_workspace
from agent.entry.review import PLUGINS_DIR, REVIEW_PANEL
from agent.settings import Settings
from tests.browser import click, free_port, headless_chromium, needs_chromium, wait_for_text
from tests.fakes import FakeWork
from tools.before_after import strip_size

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), needs_chromium]


def drawn_images(browser: Any, prefix: str, wait: float = 30) -> list[list[int]]:
    """(natural width, height) of each image on the page whose source starts with `prefix`,
    once the browser has decoded them all (an image it cannot show has no natural size)."""
    script = (
        "return Array.from(document.images).filter(i => i.src.startsWith(arguments[0]))"
        ".map(i => [i.complete ? i.naturalWidth : -1, i.naturalHeight]);"
    )
    deadline, sizes = time.monotonic() + wait, []
    while time.monotonic() < deadline:
        sizes = browser.execute_script(script, prefix)
        if sizes and all(width > 0 for width, _ in sizes):
            break
        time.sleep(1)
    return [list(size) for size in sizes]


@pytest.fixture
def browser() -> Iterator[object]:
    with headless_chromium() as driver:
        yield driver


def test_a_reviewer_sees_the_waiting_batch_in_the_app(
    tmp_path: Path, tiny_yaml_path: Path, monkeypatch: pytest.MonkeyPatch, browser: object
) -> None:
    workspace = tmp_path / "ws"
    init_workspace(workspace, tiny_yaml_path)
    deps = build_deps(Settings.load(workspace))
    deps.registry.add_model("v1", workspace / "v1.pt", None, "incumbent", {})
    deps.work = FakeWork().bind(deps)  # the loop's work faked; its state is real
    waiting = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False).waiting
    assert waiting is not None
    # Read by the App's server process, where the panel runs.
    monkeypatch.setenv("FIFTYONE_PLUGINS_DIR", str(PLUGINS_DIR))
    monkeypatch.setenv("FAILFORGE_WORKSPACE", str(workspace))
    port = free_port()
    session = deps.datasets.launch_app(port=port, panel=REVIEW_PANEL)
    try:
        browser.get(f"http://127.0.0.1:{port}/")  # type: ignore[attr-defined]
        text = wait_for_text(browser, f"waiting for a decision on {waiting.batch_id}")
        assert "brightness=low" in text and "unrealistic" in text
        assert "Approve batch" in text and "Reject batch" in text
        # The check's before/after strip, drawn by the browser at the file's own size.
        assert "Before/after: brightness=low (lighting=night)" in text
        assert drawn_images(browser, "data:image/png;base64,") == [list(strip_size(2))]
        # Approve in the App: the operator's form, prefilled with the batch, then Execute.
        with contextlib.suppress(AssertionError):  # FiftyOne's own advert, over the panel
            click(browser, "Dismiss", wait=5)
        click(browser, "Approve batch")
        click(browser, "Execute")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            batch = deps.registry.batch(waiting.batch_id)
            if batch is not None and batch.status != "proposed":
                break
            time.sleep(1)
        batch = deps.registry.batch(waiting.batch_id)
        assert batch is not None and batch.status == "approved", batch
        assert batch.decided_by == "fiftyone-app"
    finally:
        session.close()
