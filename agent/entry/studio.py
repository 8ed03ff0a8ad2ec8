"""The loop for LangGraph Studio (`langgraph dev`): the same graph, built for FAILFORGE_WORKSPACE."""

from __future__ import annotations

from typing import Any

from agent.deps import build_deps
from agent.graph import build_graph
from agent.settings import Settings


def make_graph(config: Any = None) -> Any:
    """Graph factory named in langgraph.json; the LangGraph server brings its own checkpointer,
    and answers the approval interrupt in Studio with {"approved": true|false, "by", "reason"}."""
    settings = Settings()  # workspace from FAILFORGE_WORKSPACE, like every other setting
    return build_graph(build_deps(Settings.load(settings.workspace)))
