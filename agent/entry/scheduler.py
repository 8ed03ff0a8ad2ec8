"""Scheduled cycles: APScheduler with its job store in the workspace, one run at a time, no bursts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from agent.settings import Settings
from storage.workspace import Workspace

log = logging.getLogger(__name__)
JOB_ID = "failforge-cycles"
MISFIRE_GRACE_SECONDS = 3600


def run_scheduled_cycles(workspace: str, cycles: int) -> str:
    """The scheduled job: continue an unfinished loop, or start one of `cycles` cycles.

    Takes the same workspace lock as the CLI, so it never runs beside another loop; a busy
    workspace is logged and skipped, not queued.
    """
    from agent.bootstrap import build_deps
    from agent.control.runner import LoopBusyError, LoopDriver
    from agent.settings import Settings

    deps = build_deps(Settings.load(Path(workspace)))
    loop = deps.settings.loop
    try:
        outcome = LoopDriver(deps).start_or_resume(cycles, loop.budget, loop.auto_approve)
    except LoopBusyError as error:
        deps.registry.log("schedule_skipped", reason=str(error))
        log.warning("scheduled run skipped: %s", error)
        return "skipped"
    deps.registry.log(
        "schedule_ran",
        outcome.loop_id,
        reason=outcome.stop_reason or "",
        waiting=outcome.waiting is not None,
    )
    return "waiting" if outcome.waiting is not None else "finished"


def build_scheduler(
    workspace: Path,
    cron: str,
    cycles: int,
    background: bool = False,
    job: Any = run_scheduled_cycles,
) -> BaseScheduler:
    """A scheduler whose job (kept where the workspace's state is) runs `cycles` on `cron`.

    max_instances=1 and coalesce=True: a restart after missed runs runs once, not a burst; runs
    missed by more than the grace time are dropped.
    """
    try:
        trigger = CronTrigger.from_crontab(cron)
    except ValueError as error:
        raise ValueError(f"--cron '{cron}' is not a crontab expression ({error}).") from error
    location = Settings.load(workspace).state_location()
    store = SQLAlchemyJobStore(
        url=location.sqlalchemy_url(Workspace.SCHEDULER_NAME), tableschema=location.schema
    )
    defaults = {"max_instances": 1, "coalesce": True, "misfire_grace_time": MISFIRE_GRACE_SECONDS}
    scheduler_class = BackgroundScheduler if background else BlockingScheduler
    scheduler = scheduler_class(jobstores={"default": store}, job_defaults=defaults)
    scheduler.add_job(
        job,
        trigger,
        id=JOB_ID,
        replace_existing=True,
        kwargs={"workspace": str(workspace.resolve()), "cycles": cycles},
    )
    return scheduler
