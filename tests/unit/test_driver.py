"""The loop driver: one compiled graph per driver, run-to-end with an approver, the approval's JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

import agent.control.runner as runner
from agent.control.runner import LoopDriver
from agent.state import ApprovalRequest, Decision
from tests.fakes import FakeWork, fake_deps

# The approval payload's fields in order: the App, the API, Studio and `--json` show it as it is.
PAYLOAD_FIELDS = [
    "batch_id",
    "loop_id",
    "cycle",
    "revision",
    "label_flagged",
    "label_errors",
    "images",
    "generated",
    "scores",
    "over_threshold",
    "unscored",
    "as_asked",
    "not_as_asked",
    "prompts",
    "target_slices",
    "earlier_outcomes",
    "fiftyone_view",
    "how_to_decide",
    "hypothesis_checks",
]


def test_a_driver_compiles_its_graph_once_for_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    build = runner.build_graph

    def counting(*args: object, **kwargs: object) -> object:
        built.append(args)
        return build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "build_graph", counting)
    driver = LoopDriver(fake_deps(tmp_path, FakeWork()))
    outcome = driver.start(cycles=1, budget=100, auto_approve=False)
    assert outcome.waiting is not None and driver.current() is not None
    driver.status(outcome.loop_id)
    assert driver.decide(outcome.waiting.batch_id, True, "alice").finished
    assert len(built) == 1


def test_run_to_end_answers_every_wait_with_the_approver(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path, FakeWork())
    asked: list[str] = []

    def approver(waiting: ApprovalRequest) -> Decision:
        asked.append(waiting.batch_id)
        return Decision(approved=True, by="bench", reason="benchmark")

    outcome = LoopDriver(deps).run_to_end(2, 100, approver, auto_approve=False)
    assert outcome.finished and outcome.waiting is None
    assert [deps.registry.batch(b).decided_by for b in asked] == ["bench", "bench"]
    # A finished loop is the workspace's loop: run again, nothing more runs and nothing is asked.
    again = LoopDriver(deps).run_to_end(2, 100, approver, auto_approve=False)
    assert again.loop_id == outcome.loop_id and len(asked) == 2


def test_start_or_resume_starts_a_new_loop_once_the_current_one_finished(tmp_path: Path) -> None:
    driver = LoopDriver(fake_deps(tmp_path, FakeWork()))
    first = driver.start_or_resume(1, 100, auto_approve=False)
    assert first.waiting is not None
    assert driver.start_or_resume(1, 100, auto_approve=False).loop_id == first.loop_id
    driver.decide(first.waiting.batch_id, True, "alice")
    assert driver.start_or_resume(1, 100, auto_approve=True).loop_id != first.loop_id


def test_the_interrupt_carries_the_approval_request_as_plain_json(tmp_path: Path) -> None:
    driver = LoopDriver(fake_deps(tmp_path, FakeWork()))
    outcome = driver.start(cycles=1, budget=100, auto_approve=False)
    snapshot = driver.graph.get_state({"configurable": {"thread_id": outcome.loop_id}})
    (payload,) = [i.value for t in snapshot.tasks for i in t.interrupts]
    assert isinstance(payload, dict) and list(payload) == PAYLOAD_FIELDS
    assert isinstance(payload["scores"], dict)
    assert outcome.waiting is not None and outcome.waiting.model_dump() == payload
