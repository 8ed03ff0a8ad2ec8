"""Starting, resuming and deciding loops: one loop at a time per workspace, checkpointed on disk."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.types import Command

from agent.graph import build_graph, open_checkpointer
from agent.ports import Deps
from agent.state import LoopState
from storage.state import StateBusyError

CURRENT_LOOP_FILE = "current_loop.json"
Observer = Callable[[str, dict[str, Any]], None]  # (node name, update)


class LoopBusyError(RuntimeError):
    """Another process runs a loop on this workspace."""


class NoLoopError(RuntimeError):
    """There is no loop to resume or decide on."""


class BatchDecisionError(RuntimeError):
    """A batch that was already decided, or that no loop waits for."""


class UnknownBatchError(BatchDecisionError):
    """A batch id that names no batch."""


@contextmanager
def workspace_lock(path: Path) -> Iterator[None]:
    """Hold the workspace's loop lock; the OS releases it when the holder dies, so none is stale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LoopBusyError(
                f"A loop is already running on this workspace (pid {holder}); "
                f"wait for it or stop it first."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def loop_lock(deps: Deps) -> Iterator[None]:
    """One loop per workspace: a file lock, or an advisory lock where the state is shared."""
    location = deps.settings.state_location()
    lock = location.advisory_lock() if location.shared else workspace_lock(deps.workspace.lock_file)
    try:
        with lock:
            yield
    except StateBusyError as error:
        raise LoopBusyError(str(error)) from None


@dataclass
class LoopOutcome:
    """Where a loop stands after a call: finished (with why), or waiting for a decision."""

    loop_id: str
    finished: bool
    stop_reason: str | None
    waiting: dict[str, Any] | None
    state: LoopState | None


def _config(loop_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": loop_id}, "recursion_limit": 500}


def current_loop_id(deps: Deps) -> str | None:
    path = deps.workspace.root / CURRENT_LOOP_FILE
    return json.loads(path.read_text())["loop_id"] if path.is_file() else None


def set_current_loop(deps: Deps, loop_id: str) -> None:
    """Written whole or not at all (a temporary file renamed over it): a reader of the status at
    that moment, an API request, would otherwise read an empty file."""
    path = deps.workspace.root / CURRENT_LOOP_FILE
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    partial.write_text(json.dumps({"loop_id": loop_id}))
    os.replace(partial, path)


def _drive(deps: Deps, loop_id: str, payload: Any, observe: Observer | None) -> LoopOutcome:
    graph = build_graph(deps, open_checkpointer(deps.settings))
    config = _config(loop_id)
    for chunk in graph.stream(payload, config, stream_mode="updates", durability="sync"):
        for node, update in chunk.items():
            if observe is not None and node != "__interrupt__":
                observe(node, update or {})
    snapshot = graph.get_state(config)
    values = snapshot.values
    state = LoopState.model_validate(values) if values else None
    waiting = None
    for task in snapshot.tasks:
        for pending in task.interrupts:
            waiting = pending.value
    finished = _finished(snapshot)
    return LoopOutcome(loop_id, finished, state.stop_reason if state else None, waiting, state)


def start_loop(
    deps: Deps, cycles: int, budget: int, auto_approve: bool, observe: Observer | None = None
) -> LoopOutcome:
    """Start a new loop (a new LangGraph thread) and run it until it ends or needs a decision."""
    with loop_lock(deps):
        existing = current_loop_id(deps)
        if existing is not None and not loop_status(deps, existing).finished:
            raise LoopBusyError(f"Loop {existing} is not finished; `failforge resume` it first.")
        loop_id = f"loop{uuid.uuid4().hex[:6]}"
        set_current_loop(deps, loop_id)
        deps.registry.log(
            "loop_started", loop_id, 0, "", cycles=cycles, budget=budget, auto_approve=auto_approve
        )
        initial = LoopState(
            loop_id=loop_id, max_cycles=cycles, budget=budget, auto_approve=auto_approve
        )
        return _drive(deps, loop_id, initial, observe)


def loop_status(deps: Deps, loop_id: str) -> LoopOutcome:
    graph = build_graph(deps, open_checkpointer(deps.settings))
    snapshot = graph.get_state(_config(loop_id))
    state = LoopState.model_validate(snapshot.values) if snapshot.values else None
    waiting = next((i.value for t in snapshot.tasks for i in t.interrupts), None)
    return LoopOutcome(
        loop_id, _finished(snapshot), state.stop_reason if state else None, waiting, state
    )


def _finished(snapshot: Any) -> bool:
    """No next node and no task left: a process killed right after a node saved its writes, but
    before the next checkpoint, leaves that task pending with no next node yet (not finished)."""
    return not snapshot.next and not snapshot.tasks


def resume_loop(
    deps: Deps, decision: dict[str, Any] | None = None, observe: Observer | None = None
) -> LoopOutcome:
    """Continue the current loop: after a crash from its last checkpoint, or with a decision."""
    with loop_lock(deps):
        loop_id = current_loop_id(deps)
        if loop_id is None:
            raise NoLoopError("No loop has been started in this workspace; use `failforge run`.")
        status = loop_status(deps, loop_id)
        if status.finished:
            return status
        if status.waiting is not None:
            decision = decision or recorded_decision(deps, status.waiting)
            if decision is None:
                return status
            return _drive(deps, loop_id, Command(resume=decision), observe)
        deps.registry.log("loop_resumed", loop_id, status.state.cycle if status.state else 0)
        return _drive(deps, loop_id, None, observe)


def recorded_decision(deps: Deps, waiting: dict[str, Any]) -> dict[str, Any] | None:
    """The decision already recorded on the batch a loop waits for, if any.

    A decision is written to the registry first and handed to the loop second; whatever ends in
    between (the App's background resume, a killed CLI) leaves it recorded but undelivered, and
    any later resume delivers it instead of waiting for a decision that was already made.
    """
    batch = deps.registry.batch(str(waiting.get("batch_id")))
    if batch is None or batch.status not in ("approved", "rejected"):
        return None
    return {
        "approved": batch.status == "approved",
        "by": batch.decided_by or "",
        "reason": batch.reason,
    }


def record_decision(
    deps: Deps, batch_id: str, approved: bool, by: str, reason: str = ""
) -> dict[str, Any]:
    """Record a decision on the batch the current loop waits for; exactly one decision wins.

    Raises BatchDecisionError for an unknown batch, one no loop waits for, or one already
    decided (the recorded decision is left as it was). Returns the resume payload.
    """
    batch = deps.registry.batch(batch_id)
    if batch is None:
        raise UnknownBatchError(
            f"There is no batch {batch_id}; list them with `failforge batches`."
        )
    if batch.status != "proposed":
        raise BatchDecisionError(
            f"Batch {batch_id} is already {batch.status} (by {batch.decided_by}); nothing changed."
        )
    loop_id = current_loop_id(deps)
    status = loop_status(deps, loop_id) if loop_id else None
    if status is None or status.waiting is None or status.waiting.get("batch_id") != batch_id:
        raise BatchDecisionError(f"No loop is waiting for a decision on batch {batch_id}.")
    if not deps.registry.decide_batch(batch_id, "approved" if approved else "rejected", by, reason):
        decided = deps.registry.batch(batch_id)
        assert decided is not None
        raise BatchDecisionError(
            f"Batch {batch_id} is already {decided.status} (by {decided.decided_by}); "
            f"nothing changed."
        )
    deps.registry.log(
        "decision_recorded",
        loop_id or "",
        batch.cycle,
        "request_approval",
        batch_id=batch_id,
        approved=approved,
        by=by,
        reason=reason,
    )
    return {"approved": approved, "by": by, "reason": reason}


def decide_batch(
    deps: Deps,
    batch_id: str,
    approved: bool,
    by: str,
    reason: str = "",
    observe: Observer | None = None,
) -> LoopOutcome | None:
    """Approve or reject a proposed batch; the waiting loop resumes with the decision."""
    decision = record_decision(deps, batch_id, approved, by, reason)
    return resume_loop(deps, decision, observe)


def stop_loop(deps: Deps, by: str) -> LoopOutcome | None:
    """End the current loop for good (a paused or waiting one): it is recorded as stopped, and a
    new loop may start. Returns the final outcome, or None when there is no loop."""
    loop_id = current_loop_id(deps)
    if loop_id is None:
        return None
    with loop_lock(deps):
        status = loop_status(deps, loop_id)
        if status.finished:
            return status
        graph = build_graph(deps, open_checkpointer(deps.settings))
        # As if decide_next had just said stop: its edge then leads to the end.
        graph.update_state(
            _config(loop_id), {"stop_reason": f"stopped by {by}"}, as_node="decide_next"
        )
        deps.registry.log("loop_stopped", loop_id, status.state.cycle if status.state else 0, by=by)
        return loop_status(deps, loop_id)
