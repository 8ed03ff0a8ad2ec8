"""The loop graph with recording fakes: approve, reject, revise, resume after interrupt or crash, stop rules."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.control.runner import LoopBusyError, LoopDriver, workspace_lock
from tests.fakes import FakeWork, fake_deps

GOOD = {"unrealistic": 0.5, "unrepresentative": 0.5, "unvaried": 0.0, "unoriginal": 0.0}
UNVARIED = {**GOOD, "unvaried": 0.8}


def test_auto_approved_loop_runs_every_cycle_and_stops_at_the_cycle_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake, loop={"target_recall": 0.99})
    outcome = LoopDriver(deps).start(cycles=2, budget=100, auto_approve=True)
    assert outcome.finished and outcome.stop_reason == "cycle limit reached (2)"
    assert fake.calls["retrain"] == fake.calls["gate"] == 2
    assert [r.promoted for r in outcome.state.history] == [True, True]
    assert deps.registry.incumbent().name == "v3"
    assert [m.parent for m in deps.registry.models()] == [None, "v1", "v2"]
    kinds = [e.kind for e in deps.registry.events()]
    assert kinds.count("cycle_finished") == 2 and "batch_decided" in kinds


def test_batch_waits_for_a_person_then_approval_resumes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake)
    outcome = LoopDriver(deps).start(cycles=1, budget=100, auto_approve=False)
    assert not outcome.finished and outcome.waiting is not None
    batch_id = outcome.waiting.batch_id
    assert outcome.waiting.images == 4 and outcome.waiting.fiftyone_view == f"batch {batch_id}"
    assert fake.calls["retrain"] == 0
    outcome = LoopDriver(deps).decide(batch_id, True, "alice")
    assert outcome is not None and outcome.finished
    assert fake.calls["retrain"] == 1 and fake.calls["generate"] == 1
    assert deps.registry.batch(batch_id).decided_by == "alice"
    with pytest.raises(Exception, match="already approved"):
        LoopDriver(deps).decide(batch_id, False, "bob")
    assert deps.registry.batch(batch_id).status == "approved"


def test_rejected_batch_trains_nothing_and_counts_as_no_promotion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake, loop={"patience": 1})
    outcome = LoopDriver(deps).start(cycles=3, budget=100, auto_approve=False)
    outcome = LoopDriver(deps).decide(outcome.waiting.batch_id, False, "alice", "blurry cars")
    assert outcome is not None and outcome.finished
    assert outcome.stop_reason == "no promotion for 1 cycles"
    assert fake.calls["retrain"] == 0 and deps.registry.incumbent().name == "v1"
    assert deps.registry.batches()[0].reason == "blurry cars"


def test_poor_scores_send_the_batch_back_to_planning_at_most_n_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeWork(scores=[UNVARIED, UNVARIED, UNVARIED])
    deps = fake_deps(tmp_path, fake, loop={"max_revisions": 2})
    outcome = LoopDriver(deps).start(cycles=1, budget=100, auto_approve=True)
    # Still over threshold after two revisions: the batch goes to a person with its scores.
    assert outcome.waiting is not None and outcome.waiting.revision == 2
    assert outcome.waiting.over_threshold == {"unvaried": 0.8}
    assert fake.calls["plan"] == 3 and fake.calls["generate"] == 3
    assert outcome.state.variation == 1.0
    statuses = [b.status for b in deps.registry.batches()]
    assert statuses == ["revised", "revised", "proposed"]


def test_revision_that_fixes_the_scores_is_auto_approved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeWork(scores=[UNVARIED, GOOD])
    deps = fake_deps(tmp_path, fake, loop={"target_recall": 0.4})
    outcome = LoopDriver(deps).start(cycles=3, budget=100, auto_approve=True)
    assert outcome.finished and outcome.stop_reason.startswith("target reached")
    assert fake.calls["plan"] == 2 and fake.calls["retrain"] == 1


@pytest.mark.parametrize(
    ("settings", "budget", "reason"),
    [({"patience": 2}, 100, "no promotion for 2 cycles"), ({}, 4, "image budget spent (4 of 4)")],
)
def test_stop_rules(tmp_path: Path, settings: dict, budget: int, reason: str) -> None:
    deps = fake_deps(tmp_path, FakeWork(promote=[False]), loop=settings)
    outcome = LoopDriver(deps).start(cycles=5, budget=budget, auto_approve=True)
    assert outcome.stop_reason == reason


@pytest.mark.parametrize(("strategy", "trains"), [("none", True), ("targeted", False)])
def test_only_the_none_baseline_trains_without_images(
    tmp_path: Path, strategy: str, trains: bool
) -> None:
    fake = FakeWork(kept=0)
    deps = fake_deps(tmp_path, fake, loop={"strategy": strategy})
    LoopDriver(deps).start(cycles=1, budget=10, auto_approve=True)
    assert fake.calls["retrain"] == (1 if trains else 0)


def test_a_second_loop_on_a_busy_workspace_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = fake_deps(tmp_path)
    with (
        workspace_lock(deps.workspace.lock_file),
        pytest.raises(LoopBusyError, match="already running"),
    ):
        LoopDriver(deps).start(cycles=1, budget=10, auto_approve=True)
    outcome = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False)  # lock released
    with pytest.raises(LoopBusyError, match="resume"):
        LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False)
    assert outcome.waiting is not None


CHILD = """
import sys
from pathlib import Path
from tests.fakes import FakeWork, fake_deps
from agent.control.runner import LoopDriver
deps = fake_deps(Path(sys.argv[1]), FakeWork(kill_in=sys.argv[2]))
LoopDriver(deps).start(cycles=1, budget=100, auto_approve=True)
"""


@pytest.mark.parametrize("step", ["retrain", "gate"])
def test_sigkill_in_a_step_then_resume_finishes_without_repeating_side_effects(
    tmp_path: Path, step: str
) -> None:
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(tmp_path), step],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr  # killed by SIGKILL mid-step
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake)
    assert not LoopDriver(deps).status(LoopDriver(deps).current_id()).finished
    outcome = LoopDriver(deps).resume()
    assert outcome.finished
    assert fake.calls["generate"] == 0 and fake.calls["label"] == 0  # replayed, not redone
    if step == "retrain":
        # Training was cut off before it finished, so it runs again: still one finished run.
        assert fake.calls["retrain"] == 1
    else:
        assert fake.calls["retrain"] == 0
    assert len(deps.registry.batches()) == 1
    assert [m.name for m in deps.registry.models()] == ["v1", "v2"]
    assert deps.registry.incumbent().name == "v2"
    promotions = [e for e in deps.registry.events() if e.kind == "gate"]
    assert len(promotions) == 1


def test_stop_ends_a_waiting_loop(tmp_path: Path) -> None:
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake)
    assert LoopDriver(deps).stop("erin") is None
    waiting = LoopDriver(deps).start(cycles=3, budget=100, auto_approve=False)
    outcome = LoopDriver(deps).stop("erin")
    assert outcome is not None and outcome.finished and outcome.stop_reason == "stopped by erin"
    assert fake.calls["retrain"] == 0 and waiting.waiting is not None
    assert LoopDriver(deps).start(cycles=1, budget=10, auto_approve=True).finished


KILLED_BETWEEN_WRITES_AND_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
from langgraph.checkpoint.sqlite import SqliteSaver
from tests.fakes import FakeWork, fake_deps
from agent.control.runner import LoopDriver
saved = SqliteSaver.put_writes
def put_writes(self, config, writes, task_id, task_path=""):
    saved(self, config, writes, task_id, task_path)
    if any(channel == "decision" for channel, _ in writes):  # request_approval's writes
        os.kill(os.getpid(), signal.SIGKILL)
SqliteSaver.put_writes = put_writes
deps = fake_deps(Path(sys.argv[1]))
LoopDriver(deps).start(cycles=1, budget=100, auto_approve=True)
"""


def test_a_kill_after_a_nodes_writes_but_before_the_next_checkpoint_is_not_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the kill matrix: LangGraph then shows no next node, only the pending task."""
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(KILLED_BETWEEN_WRITES_AND_CHECKPOINT),
            str(tmp_path),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake)
    loop_id = LoopDriver(deps).current_id()
    assert not LoopDriver(deps).status(loop_id).finished
    outcome = LoopDriver(deps).resume()
    assert outcome.finished and outcome.state is not None and len(outcome.state.history) == 1
    assert fake.calls["retrain"] == 1 and deps.registry.incumbent().name == "v2"


def test_an_empty_batch_is_never_approved_as_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every image failed: under auto-approval the cycle is skipped with its reason.
    fake = FakeWork(kept=0)
    deps = fake_deps(tmp_path / "empty", fake)
    outcome = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=True)
    (batch,) = deps.registry.batches()
    assert batch.status == "rejected" and batch.decided_by == "policy"
    assert batch.reason.startswith("skipped: 0 images") and fake.calls["retrain"] == 0
    assert outcome.state.history[0].approved is False


def test_a_batch_too_small_to_score_waits_for_a_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeWork(kept=1)
    deps = fake_deps(tmp_path, fake)
    outcome = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=True)
    assert outcome.waiting is not None and outcome.waiting.unscored is not None
    assert outcome.waiting.unscored.startswith("1 images")
    assert fake.calls["retrain"] == 0
