"""A reviewer decides a real loop's batch in the FiftyOne App, and the loop goes on by itself.

A tiny trained workspace runs a real cycle to the approval; the App is started as `failforge
app` starts it, headless chromium opens the review panel, and the decision is made there. The
App's operator records it and resumes the loop in a process of its own: approved, the cycle
trains and gates a candidate; rejected, the reason is recorded and nothing is trained.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser import (
    click,
    free_port,
    headless_chromium,
    needs_chromium,
    type_into,
    wait_for_text,
)
from tests.faults.harness import clone

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), needs_chromium]


@dataclass
class Review:
    """A loop waiting for a decision, the App showing it, and the browser on the App."""

    deps: Any
    loop_id: str
    batch_id: str
    browser: Any
    shots: Path

    def decide(self, button: str, reason: str = "") -> float:
        """Decide in the panel's operator form; the monotonic time of the click on Execute."""
        click(self.browser, button)
        if reason:
            type_into(self.browser, "Why", reason)
        click(self.browser, "Execute")
        return time.monotonic()

    def wait_for_the_cycle(self, since: float, wait: float = 600) -> float:
        """Seconds from the click until the loop, resumed by the App, finished its cycle."""
        from agent.control.runner import LoopDriver

        deadline = since + wait
        while time.monotonic() < deadline:
            if LoopDriver(self.deps).status(self.loop_id).finished:
                return time.monotonic() - since
            time.sleep(2)
        log = self.deps.workspace.root / "reports" / "app-resume.log"
        raise AssertionError(f"the loop did not finish: {log.read_text()[-3000:]}")

    def events(self, kind: str) -> list[Any]:
        return [
            e for e in self.deps.registry.events() if e.loop_id == self.loop_id and e.kind == kind
        ]


@pytest.fixture
def review(
    trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Review]:
    from agent.bootstrap import build_deps
    from agent.control.runner import LoopDriver
    from agent.entry.review import PLUGINS_DIR, REVIEW_PANEL
    from agent.settings import Settings

    workspace = clone(trained_workspace, tmp_path / "ws")
    # Read by the App's server process and by the resume it starts.
    monkeypatch.setenv("FAILFORGE_DETECTOR__BATCH", "4")
    monkeypatch.setenv("FIFTYONE_PLUGINS_DIR", str(PLUGINS_DIR))
    monkeypatch.setenv("FAILFORGE_WORKSPACE", str(workspace))
    deps = build_deps(Settings.load(workspace))
    outcome = LoopDriver(deps).start(cycles=1, budget=16, auto_approve=False)
    assert outcome.waiting is not None, outcome
    port = free_port()
    session = deps.datasets.launch_app(port=port, panel=REVIEW_PANEL)
    shots = Path(os.environ.get("FAILFORGE_SCREENSHOT_DIR", tmp_path))
    try:
        with headless_chromium() as browser:
            browser.get(f"http://127.0.0.1:{port}/")
            batch_id = outcome.waiting.batch_id
            wait_for_text(browser, f"waiting for a decision on {batch_id}")
            yield Review(deps, outcome.loop_id, batch_id, browser, shots)
    finally:
        session.close()


def test_approved_in_the_app_the_cycle_trains_and_gates(review: Review) -> None:
    text = wait_for_text(review.browser, "quality score")
    assert "target slice" in text and "Approve batch" in text and "came out as asked" in text
    with contextlib.suppress(AssertionError):  # FiftyOne's own advert, over the panel
        click(review.browser, "Dismiss", wait=5)
    review.browser.save_screenshot(str(review.shots / "review_panel_waiting.png"))

    clicked = review.decide("Approve batch")
    seconds = review.wait_for_the_cycle(clicked)
    print(f"approval to the cycle's end: {seconds:.1f} s")  # the figure quoted in the note

    batch = review.deps.registry.batch(review.batch_id)
    assert batch is not None and batch.status == "approved" and batch.decided_by == "fiftyone-app"
    assert len(review.events("batch_decided")) == 1
    (gate,) = review.events("gate")  # a candidate was trained, then judged once
    assert gate.payload.get("candidate"), gate.payload
    # The panel follows the loop by itself: the outcome appears without a click on Refresh.
    wait_for_text(review.browser, f"Cycle 1: batch {review.batch_id} approved", wait=30)
    review.browser.save_screenshot(str(review.shots / "review_panel_after.png"))


def test_rejected_in_the_app_with_a_reason_nothing_is_trained(review: Review) -> None:
    models = {m.name for m in review.deps.registry.models()}
    clicked = review.decide("Reject batch", reason="the far cars float above the road")
    review.wait_for_the_cycle(clicked)

    batch = review.deps.registry.batch(review.batch_id)
    assert batch is not None and batch.status == "rejected", batch
    assert batch.reason == "the far cars float above the road"
    assert review.events("gate") == [] and len(review.events("batch_decided")) == 1
    # No candidate trained from a rejected batch.
    assert {m.name for m in review.deps.registry.models()} == models
    click(review.browser, "Refresh")
    wait_for_text(review.browser, "rejected (the far cars float above the road), nothing trained")
    review.browser.save_screenshot(str(review.shots / "review_panel_rejected.png"))
