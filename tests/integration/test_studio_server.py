"""The loop in LangGraph's dev server (`langgraph dev`, as the README starts it for Studio).

A thread runs to the approval interrupt, a decision sent through LangGraph's own client resumes
it and the cycle trains, gates and ends; a run on a workspace whose loop lock is held fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.faults.harness import REPO, clone
from tests.required import require_tool

LANGGRAPH = Path(sys.executable).with_name("langgraph")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    require_tool(LANGGRAPH.is_file(), "langgraph-cli[inmem]", "`.[dev]` installs it"),
]


@dataclass
class DevServer:
    url: str
    workspace: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dev_server(trained_workspace: Path, tmp_path: Path) -> Iterator[DevServer]:
    workspace = clone(trained_workspace, tmp_path / "ws")
    # The server keeps its threads in ./.langgraph_api and reads langgraph.json's paths from its
    # folder: a folder of its own holding the shipped file, with the code linked in, keeps a
    # user's Studio threads in the clone out of the test and the test's out of the clone.
    home = tmp_path / "server"
    home.mkdir()
    (home / "langgraph.json").write_text((REPO / "langgraph.json").read_text())
    (home / "agent").symlink_to(REPO / "agent")
    port = _free_port()
    log = tmp_path / "langgraph-dev.log"
    env = {
        **os.environ,
        "FAILFORGE_WORKSPACE": str(workspace),
        "FAILFORGE_DETECTOR__BATCH": "4",
        "LANGSMITH_TRACING": "false",
    }
    command = [str(LANGGRAPH), "dev", "--port", str(port), "--no-browser", "--no-reload"]
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield DevServer(url, workspace, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _start(loop_id: str) -> dict[str, object]:
    return {"loop_id": loop_id, "max_cycles": 1, "budget": 16, "auto_approve": False}


def test_a_studio_thread_runs_to_the_approval_and_a_decision_finishes_the_cycle(
    dev_server: DevServer,
) -> None:
    from langgraph_sdk import get_sync_client

    from agent.bootstrap import build_deps
    from agent.settings import Settings

    client = get_sync_client(url=dev_server.url)
    thread = client.threads.create()
    waiting = client.runs.wait(thread["thread_id"], "failforge", input=_start("studio1"))
    assert isinstance(waiting, dict), waiting
    interrupts = waiting.get("__interrupt__") or []
    assert interrupts, dev_server.log.read_text()[-3000:]
    batch_id = interrupts[0]["value"]["batch_id"]

    decision = {"approved": True, "by": "studio-reviewer", "reason": "looks right"}
    final = client.runs.wait(thread["thread_id"], "failforge", command={"resume": decision})
    assert isinstance(final, dict) and not final.get("__interrupt__"), final
    assert final["stop_reason"], final  # the loop of one cycle ended
    history = final["history"]
    assert len(history) == 1 and history[0]["candidate"], history  # trained and gated
    state = client.threads.get_state(thread["thread_id"])
    assert not state["next"], state["next"]

    registry = build_deps(Settings.load(dev_server.workspace)).registry
    batch = registry.batch(batch_id)
    assert batch is not None and batch.status == "approved", batch
    assert batch.decided_by == "studio-reviewer"
    events = [e.kind for e in registry.events() if e.loop_id == "studio1"]
    assert events.count("batch_decided") == 1 and events.count("gate") == 1, events


def test_a_studio_run_is_refused_while_another_loop_holds_the_workspace(
    dev_server: DevServer,
) -> None:
    from langgraph_sdk import get_sync_client

    from agent.bootstrap import build_deps
    from agent.control.runner import loop_lock
    from agent.settings import Settings

    client = get_sync_client(url=dev_server.url)
    thread = client.threads.create()
    deps = build_deps(Settings.load(dev_server.workspace))
    with loop_lock(deps):  # as a CLI loop running on this workspace holds it
        run = client.runs.create(thread["thread_id"], "failforge", input=_start("studio2"))
        client.runs.join(thread["thread_id"], run["run_id"])
        refused = client.runs.get(thread["thread_id"], run["run_id"])
    assert refused["status"] == "error", refused
    assert "already running on this workspace" in dev_server.log.read_text()
    assert not [e for e in deps.registry.events() if e.loop_id == "studio2"]  # no node ran
