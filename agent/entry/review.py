"""Decisions from the FiftyOne App: the same decision function as the CLI and API, then a resume."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent.control.queries import waiting_batch_id
from agent.control.runner import record_decision
from agent.deps import Deps, build_deps
from agent.settings import Settings

PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"


RESUME_LOG = "app-resume.log"


def launch_resume(workspace: Path) -> subprocess.Popen[bytes]:
    """Resume the loop in its own process (training must not run inside the App's server); it
    delivers the recorded decision. Its output goes to reports/app-resume.log, for when it fails."""
    log_file = workspace / "reports" / RESUME_LOG
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            # `python -m agent`, not `-m agent.entry.cli`: run as __main__, cli.py would be a second copy
            # of the module and the other command modules would register on the first one.
            [sys.executable, "-m", "agent", "resume", "--workspace", str(workspace)],
            cwd=Path(__file__).resolve().parents[2],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _workspace_deps(workspace: Path | None = None) -> Deps:
    root = workspace or Path(os.environ.get("FAILFORGE_WORKSPACE", "."))
    return build_deps(Settings.load(root))


def pending_batch(workspace: Path | None = None) -> str | None:
    """The batch the workspace's loop waits for: the review form's default on any dataset."""
    try:
        return waiting_batch_id(_workspace_deps(workspace))
    except Exception:  # no workspace here, or no loop: the reviewer types the id
        return None


def decide_from_app(
    batch_id: str, approved: bool, by: str, reason: str, workspace: Path | None = None
) -> dict[str, Any]:
    """Record the decision (exactly one wins), then resume the waiting loop in the background."""
    deps = _workspace_deps(workspace)
    decision = record_decision(deps, batch_id, approved, by, reason)
    launch_resume(deps.workspace.root)
    return {"batch_id": batch_id, **decision}
