"""LangGraph Studio's entry: langgraph.json names a factory that builds the loop for a workspace."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fakes import fake_deps

REPO = Path(__file__).resolve().parents[2]


def test_langgraph_json_names_a_factory_that_builds_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = json.loads((REPO / "langgraph.json").read_text())
    target = config["graphs"]["failforge"]
    path, _, name = target.partition(":")
    assert (REPO / path).is_file() and "env" not in config  # nothing it names is missing
    from agent.control.runner import LoopBusyError, loop_lock
    from agent.entry import studio

    deps = fake_deps(tmp_path)
    monkeypatch.setenv("FAILFORGE_WORKSPACE", str(tmp_path))
    monkeypatch.setattr(studio, "build_deps", lambda settings: deps)
    factory = getattr(studio, name)

    async def build(runtime: object) -> set[str]:
        async with factory(runtime) as graph:
            return set(graph.nodes)

    reading = SimpleNamespace(execution_runtime=None)  # the server reading state or schemas
    assert {"evaluate_detector", "request_approval", "decide_next"} <= asyncio.run(build(reading))
    # A run takes the workspace's loop lock: refused while another loop holds it.
    running = SimpleNamespace(execution_runtime=object())
    with loop_lock(deps), pytest.raises(LoopBusyError):
        asyncio.run(build(running))
    assert "retrain_detector" in asyncio.run(build(running))  # and released after a run
