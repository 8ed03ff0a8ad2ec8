"""The loop as one LangGraph StateGraph: every node and edge on one screen."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from agent import nodes
from agent.ports import Deps
from agent.settings import Settings
from agent.state import LoopState
from storage.state import StateLocation
from storage.workspace import Workspace, WorkspaceError

STEPS: list[Callable[..., dict[str, Any]]] = [
    nodes.evaluate_detector,
    nodes.discover_failures,
    nodes.analyze_failures,
    nodes.check_hypotheses,
    nodes.plan_batch,
    nodes.generate_images,
    nodes.label_images,
    nodes.score_batch,
    nodes.request_approval,
    nodes.record_decision,
    nodes.retrain_detector,
    nodes.gate_candidate,
    nodes.decide_next,
]


# The state's record types, allowed back out of the checkpoint (LangGraph refuses unknown ones).
CHECKPOINT_TYPES = [
    ("agent.state", "LoopState"),
    ("agent.state", "BatchSummary"),
    ("agent.state", "Decision"),
    ("agent.state", "CycleRecord"),
    ("agent.state", "CarriedCandidate"),
    ("evaluation.slices", "FailureSlice"),
    ("evaluation.counterfactual", "CounterfactualResult"),
    ("evaluation.counterfactual", "HypothesisCheck"),
    ("evaluation.counterfactual", "FactorCheck"),
    ("evaluation.counterfactual", "EditArm"),
    ("evaluation.counterfactual", "ProportionInterval"),
    ("evaluation.counterfactual", "DifferenceInterval"),
    ("evaluation.gate", "GateResult"),
    ("evaluation.gate", "SliceOutcome"),
    ("evaluation.quality", "QualityScores"),
    ("tools.analyst.base", "FailureAnalysis"),
    ("tools.analyst.base", "Hypothesis"),
    ("tools.analyst.base", "SceneConditions"),
    ("tools.generator.base", "GenerationRequest"),
    ("tools.world.camera", "CameraProfile"),
]


def open_checkpointer(settings: Settings) -> BaseCheckpointSaver:
    """The loop's checkpoints where the workspace's state lives (SQLite file or Postgres)."""
    location = settings.state_location()
    if location.shared:
        return postgres_checkpointer(location)
    return sqlite_checkpointer(Workspace(settings.workspace).checkpoint_file)


@lru_cache(maxsize=16)
def postgres_checkpointer(location: StateLocation) -> BaseCheckpointSaver:
    """Checkpoints in the workspace's schema of a shared Postgres (one connection per process)."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    saver = PostgresSaver(
        location.connect(), serde=JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)
    )
    saver.setup()  # creates or migrates its tables; idempotent
    return saver


@lru_cache(maxsize=16)
def sqlite_checkpointer(path: Path) -> BaseCheckpointSaver:
    """LangGraph checkpoints in a SQLite file of the workspace (one saver per file and process;
    the saver serialises its own access, so threads share it)."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

    serde = JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)
    connection = sqlite3.connect(str(path), check_same_thread=False)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        connection.close()
        raise WorkspaceError(
            f"The loop checkpoints {path} cannot be read as a database ({error}); restore "
            "the file from a copy, or move it away to start a new loop (nothing was changed)."
        ) from None
    return SqliteSaver(connection, serde=serde)


def build_graph(deps: Deps, checkpointer: BaseCheckpointSaver | None = None) -> Any:
    """The compiled loop; nodes get `deps` bound, so tests pass fakes the same way."""
    graph = StateGraph(LoopState)
    for step in STEPS:
        graph.add_node(step.__name__, partial(step, deps=deps))
    graph.add_edge(START, "evaluate_detector")
    graph.add_edge("evaluate_detector", "discover_failures")
    # Targeted planners stop without a failure slice; the benchmark's other arms go on.
    graph.add_conditional_edges(
        "discover_failures",
        partial(nodes.route_after_discover, needs_slices=deps.planner.needs_slices),
        {"analyze_failures": "analyze_failures", "decide_next": "decide_next"},
    )
    # Each hypothesis tested on its slice's misses before any budget is spent on it.
    graph.add_edge("analyze_failures", "check_hypotheses")
    graph.add_edge("check_hypotheses", "plan_batch")
    graph.add_edge("plan_batch", "generate_images")
    graph.add_edge("generate_images", "label_images")
    graph.add_edge("label_images", "score_batch")
    graph.add_conditional_edges(
        "score_batch",
        partial(nodes.route_after_score, max_revisions=deps.settings.loop.max_revisions),
        {"plan_batch": "plan_batch", "request_approval": "request_approval"},
    )
    graph.add_edge("request_approval", "record_decision")
    # The `none` arm trains on field data alone: no images, same recipe.
    graph.add_conditional_edges(
        "record_decision",
        partial(
            nodes.route_after_decision,
            train_without_images=deps.planner.trains_without_images,
        ),
        {"retrain_detector": "retrain_detector", "decide_next": "decide_next"},
    )
    graph.add_edge("retrain_detector", "gate_candidate")
    graph.add_edge("gate_candidate", "decide_next")
    graph.add_conditional_edges(
        "decide_next",
        nodes.route_after_cycle,
        {"evaluate_detector": "evaluate_detector", "__end__": END},
    )
    return graph.compile(checkpointer=checkpointer)
