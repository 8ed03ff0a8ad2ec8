"""State on a real Postgres server: registry, checkpoints and schedules in a schema per workspace,
and one loop per workspace across hosts by an advisory lock a dead holder cannot keep."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.control.runner import LoopBusyError, LoopDriver
from agent.state import Decision
from tests.fakes import fake_deps
from tests.required import require_tool
from tests.service.postgres import postgres_binary, postgres_server

pytestmark = require_tool(
    postgres_binary("initdb"), "Postgres", ".ci/run installs Debian's postgresql as root"
)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def test_a_loop_keeps_its_state_in_postgres_and_resumes_from_it(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = fake_deps(tmp_path / "a", workspace_id="aaaa", state={"url": postgres_url})
    waiting = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False)
    assert waiting.waiting is not None
    # A second host: same settings, a fresh process's objects, nothing in the workspace folder.
    assert not (tmp_path / "a" / "registry.sqlite").exists()
    assert not (tmp_path / "a" / "checkpoints.sqlite").exists()
    other = fake_deps(tmp_path / "a", workspace_id="aaaa", state={"url": postgres_url})
    loop_id = LoopDriver(other).current_id()
    assert loop_id is not None and LoopDriver(other).status(loop_id).waiting is not None
    done = LoopDriver(other).resume(Decision(approved=True, by="erin", reason="ok"))
    assert done.finished
    assert [b.status for b in other.registry.batches()] == ["approved"]
    # Another workspace in the same database sees nothing of the first (its own schema).
    stranger = fake_deps(tmp_path / "b", workspace_id="bbbb", state={"url": postgres_url})
    assert stranger.registry.batches() == [] and len(stranger.registry.models()) == 1


HOLDER = """
import sys, time
from pathlib import Path
from storage.state import StateLocation
with StateLocation(sys.argv[1], Path("."), "cccc").advisory_lock():
    print("held", flush=True)
    time.sleep(120)
"""


def test_one_loop_per_workspace_across_hosts_and_a_dead_holder_frees_it(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = fake_deps(tmp_path, workspace_id="cccc", state={"url": postgres_url})
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), postgres_url],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LoopBusyError, match="already running"):
            LoopDriver(deps).start(cycles=1, budget=10, auto_approve=True)
    finally:
        holder.kill()  # SIGKILL: no unlock; the server frees the lock with the connection
        holder.wait()
    assert LoopDriver(deps).start(cycles=1, budget=10, auto_approve=True).finished


def test_the_schedule_is_kept_in_postgres(postgres_url: str, tmp_path: Path) -> None:
    from agent.entry.scheduler import JOB_ID, build_scheduler

    fake_deps(tmp_path, workspace_id="dddd", state={"url": postgres_url})
    scheduler = build_scheduler(tmp_path, "0 3 * * *", 2, background=True)
    scheduler.start(paused=True)
    scheduler.shutdown()
    again = build_scheduler(tmp_path, "0 3 * * *", 2, background=True)
    store = again._jobstores["default"]  # what a restarted service finds in the database
    assert [job.id for job in store.get_all_jobs()] == [JOB_ID]
    assert store.jobs_t.schema == "failforge_dddd"


def test_doctor_checks_the_configured_postgres(postgres_url: str, tmp_path: Path) -> None:
    from agent.control.doctor import diagnose
    from agent.settings import Settings

    def postgres(url: str | None) -> tuple[bool, bool, str]:
        settings = Settings(workspace=tmp_path, workspace_id="eeee", state={"url": url})
        check = next(c for c in diagnose(settings) if c.backend == "postgres")
        return check.configured, check.ok, check.reason

    assert postgres(None)[:2] == (False, True)
    assert postgres(postgres_url) == (True, True, "ready")
    configured, ok, reason = postgres("postgresql+psycopg://u:secret@127.0.0.1:1/x")
    assert configured and not ok and "cannot reach" in reason and "secret" not in reason
