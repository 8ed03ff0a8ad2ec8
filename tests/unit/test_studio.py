"""LangGraph Studio's entry: langgraph.json names a factory that builds the loop for a workspace."""

from __future__ import annotations

import json
from pathlib import Path

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
    from agent.entry import studio

    deps = fake_deps(tmp_path)
    monkeypatch.setenv("FAILFORGE_WORKSPACE", str(tmp_path))
    monkeypatch.setattr(studio, "build_deps", lambda settings: deps)
    graph = getattr(studio, name)()
    assert {"evaluate_detector", "request_approval", "decide_next"} <= set(graph.nodes)
