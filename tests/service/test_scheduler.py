"""The scheduler: its job lives in the workspace, a restart after missed runs runs once, never beside a loop."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.control.runner import workspace_lock
from agent.entry.scheduler import JOB_ID, build_scheduler, run_scheduled_cycles
from tests.fakes import FakeWork, fake_deps

RUNS: list[str] = []


def record_run(workspace: str, cycles: int) -> None:
    RUNS.append(workspace)


def test_a_restart_after_missed_runs_runs_once_not_a_burst(tmp_path: Path) -> None:
    RUNS.clear()
    scheduler = build_scheduler(tmp_path, "* * * * *", 1, background=True, job=record_run)
    scheduler.start(paused=True)
    # The job store is a file in the workspace: the job survives the scheduler.
    scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC) - timedelta(minutes=5))
    scheduler.shutdown(wait=False)
    assert (tmp_path / "scheduler.sqlite").is_file()

    restarted = build_scheduler(tmp_path, "* * * * *", 1, background=True, job=record_run)
    restarted.start(paused=True)
    restarted.modify_job(JOB_ID, next_run_time=datetime.now(UTC) - timedelta(minutes=5))
    restarted.resume()
    deadline = time.monotonic() + 5
    while not RUNS and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    restarted.shutdown(wait=True)
    assert len(RUNS) == 1  # five missed minutes, coalesced into one run
    job_defaults = restarted._job_defaults
    assert job_defaults["max_instances"] == 1 and job_defaults["coalesce"] is True


def test_a_scheduled_run_on_a_busy_workspace_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake)
    monkeypatch.setattr("agent.bootstrap.build_deps", lambda settings: deps)
    with workspace_lock(deps.workspace.lock_file):
        assert run_scheduled_cycles(str(tmp_path), 1) == "skipped"
    assert fake.calls["discover"] == 0
    assert [e.kind for e in deps.registry.events()][-1] == "schedule_skipped"
    assert run_scheduled_cycles(str(tmp_path), 1) == "waiting"  # not auto-approved by default
    assert run_scheduled_cycles(str(tmp_path), 1) == "waiting"  # resumes the same loop, no new one
    assert fake.calls["generate"] == 1


def test_two_scheduled_runs_at_once_never_overlap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first run is held inside its loop until the second has tried: a real overlap.
    inside, release = threading.Event(), threading.Event()

    def hold_the_first_run() -> None:
        if not inside.is_set():
            inside.set()
            assert release.wait(30)

    fake = FakeWork(before={"discover": hold_the_first_run})
    deps = fake_deps(tmp_path, fake, loop={"auto_approve": True})
    monkeypatch.setattr("agent.bootstrap.build_deps", lambda settings: deps)
    first: list[str] = []
    thread = threading.Thread(target=lambda: first.append(run_scheduled_cycles(str(tmp_path), 1)))
    thread.start()
    try:
        assert inside.wait(30), "the first run never reached its loop"
        second = run_scheduled_cycles(str(tmp_path), 1)
    finally:
        release.set()
        thread.join(30)
    assert second == "skipped" and first == ["finished"]
    kinds = [e.kind for e in deps.registry.events()]
    assert kinds.count("loop_started") == 1 and kinds.count("schedule_skipped") == 1
    assert fake.calls["discover"] == 1


def test_a_bad_cron_expression_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a crontab expression"):
        build_scheduler(tmp_path, "every night", 1)
