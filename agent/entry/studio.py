"""The loop for LangGraph Studio (`langgraph dev`): the same graph, built for FAILFORGE_WORKSPACE."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from langgraph_sdk.runtime import ServerRuntime

from agent.bootstrap import build_deps
from agent.control.runner import loop_lock
from agent.graph import build_graph
from agent.ports import Deps
from agent.settings import Settings


def _workspace_deps() -> Deps:
    settings = Settings()  # workspace from FAILFORGE_WORKSPACE, like every other setting
    return build_deps(Settings.load(settings.workspace))


@contextlib.asynccontextmanager
async def make_graph(runtime: ServerRuntime) -> AsyncIterator[Any]:
    """Graph factory named in langgraph.json; the server brings its own checkpointer, and the
    approval interrupt is answered in Studio with {"approved": true|false, "by", "reason"}.

    A run holds the workspace's loop lock from its first node to its end or interrupt, as
    `failforge run` and `resume` do, so Studio and a CLI, API or scheduled loop never train on
    one workspace at once; a run that finds it taken fails with the lock's one sentence. The
    server also calls the factory to read state and schemas: those calls take no lock.
    """
    # Building deps and taking a file lock block: off the server's event loop.
    deps = await asyncio.to_thread(_workspace_deps)
    if runtime.execution_runtime is None:
        yield build_graph(deps)
        return
    lock = loop_lock(deps)
    await asyncio.to_thread(lock.__enter__)
    try:
        yield build_graph(deps)
    finally:
        await asyncio.to_thread(lock.__exit__, None, None, None)
