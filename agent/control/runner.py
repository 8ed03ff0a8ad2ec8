"""Driving a workspace's loops: `LoopDriver` starts, resumes, decides and stops them, one at a time."""

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
from agent.state import ApprovalRequest, Decision, LoopState
from storage.state import StateBusyError, locked_as_error
from tools.files import write_text_whole

CURRENT_LOOP_FILE = "current_loop.json"
Observer = Callable[[str, dict[str, Any]], None]  # (node name, update)
# Who answers a loop that waits for a decision, when a caller runs a loop to its end unattended.
Approver = Callable[[ApprovalRequest], Decision]


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
    waiting: ApprovalRequest | None
    state: LoopState | None


def _config(loop_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": loop_id}, "recursion_limit": 500}


def _finished(snapshot: Any) -> bool:
    """No next node and no task left: a process killed right after a node saved its writes, but
    before the next checkpoint, leaves that task pending with no next node yet (not finished)."""
    return not snapshot.next and not snapshot.tasks


def _outcome(loop_id: str, snapshot: Any) -> LoopOutcome:
    state = LoopState.model_validate(snapshot.values) if snapshot.values else None
    # One interrupt per node, and one node waits at a time: the last pending one is the request.
    pending = [i.value for t in snapshot.tasks for i in t.interrupts]
    waiting = ApprovalRequest.model_validate(pending[-1]) if pending else None
    return LoopOutcome(
        loop_id, _finished(snapshot), state.stop_reason if state else None, waiting, state
    )


class LoopDriver:
    """The one way to drive a workspace's loops (CLI, API, scheduler, App and benchmark).

    The compiled graph is built once per driver and reused by every call; one loop at a time per
    workspace, under the workspace's loop lock.
    """

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._graph: Any = None

    @property
    def graph(self) -> Any:
        if self._graph is None:
            self._graph = build_graph(self.deps, open_checkpointer(self.deps.settings))
        return self._graph

    # -- reading ------------------------------------------------------------------------------
    def current_id(self) -> str | None:
        """The workspace's current loop (the last one started), finished or not."""
        path = self.deps.workspace.root / CURRENT_LOOP_FILE
        return json.loads(path.read_text())["loop_id"] if path.is_file() else None

    def status(self, loop_id: str) -> LoopOutcome:
        with locked_as_error("checkpoints"):
            return _outcome(loop_id, self.graph.get_state(_config(loop_id)))

    def current(self) -> LoopOutcome | None:
        """The current loop and where it stands; None before any loop started."""
        loop_id = self.current_id()
        return self.status(loop_id) if loop_id else None

    def current_state(self) -> LoopState | None:
        outcome = self.current()
        return outcome.state if outcome else None

    def waiting(self) -> ApprovalRequest | None:
        """What the current loop waits for a decision on, if it waits."""
        outcome = self.current()
        return outcome.waiting if outcome else None

    # -- driving ------------------------------------------------------------------------------
    def set_current(self, loop_id: str) -> None:
        """Written whole or not at all (a temporary file renamed over it): a reader of the status
        at that moment, an API request, would otherwise read an empty file."""
        write_text_whole(
            self.deps.workspace.root / CURRENT_LOOP_FILE, json.dumps({"loop_id": loop_id})
        )

    def _drive(self, loop_id: str, payload: Any, observe: Observer | None) -> LoopOutcome:
        config = _config(loop_id)
        with locked_as_error("checkpoints"):
            chunks = self.graph.stream(payload, config, stream_mode="updates", durability="sync")
            for chunk in chunks:
                for node, update in chunk.items():
                    if observe is not None and node != "__interrupt__":
                        observe(node, update or {})
        return self.status(loop_id)

    def start(
        self, cycles: int, budget: int, auto_approve: bool, observe: Observer | None = None
    ) -> LoopOutcome:
        """Start a new loop (a new LangGraph thread) and run it until it ends or needs a decision."""
        with loop_lock(self.deps):
            existing = self.current_id()
            if existing is not None and not self.status(existing).finished:
                raise LoopBusyError(
                    f"Loop {existing} is not finished; `failforge resume` it first."
                )
            loop_id = f"loop{uuid.uuid4().hex[:6]}"
            self.set_current(loop_id)
            self.deps.registry.log(
                "loop_started",
                loop_id,
                0,
                "",
                cycles=cycles,
                budget=budget,
                auto_approve=auto_approve,
            )
            initial = LoopState(
                loop_id=loop_id, max_cycles=cycles, budget=budget, auto_approve=auto_approve
            )
            return self._drive(loop_id, initial, observe)

    def resume(
        self, decision: Decision | None = None, observe: Observer | None = None
    ) -> LoopOutcome:
        """Continue the current loop: after a crash from its last checkpoint, or with a decision."""
        with loop_lock(self.deps):
            loop_id = self.current_id()
            if loop_id is None:
                raise NoLoopError(
                    "No loop has been started in this workspace; use `failforge run`."
                )
            status = self.status(loop_id)
            if status.finished:
                return status
            if status.waiting is not None:
                if decision is None:
                    decision = self.recorded_decision(status.waiting)
                if decision is None:
                    return status
                # The resume value stays a plain object: Studio sends one, and it is checkpointed.
                return self._drive(loop_id, Command(resume=decision.model_dump()), observe)
            self.deps.registry.log(
                "loop_resumed", loop_id, status.state.cycle if status.state else 0
            )
            return self._drive(loop_id, None, observe)

    def start_or_resume(
        self, cycles: int, budget: int, auto_approve: bool, observe: Observer | None = None
    ) -> LoopOutcome:
        """Continue the current loop if it is unfinished, else start a new one."""
        outcome = self.current()
        if outcome is not None and not outcome.finished:
            return self.resume(observe=observe)
        return self.start(cycles, budget, auto_approve, observe)

    def run_to_end(
        self,
        cycles: int,
        budget: int,
        approver: Approver,
        auto_approve: bool = True,
        observe: Observer | None = None,
    ) -> LoopOutcome:
        """The workspace's loop to its end: its current loop resumed (a finished one is left as
        it is), or a first one started; every decision it waits for is the approver's."""
        if self.current_id() is None:
            outcome = self.start(cycles, budget, auto_approve, observe)
        else:
            outcome = self.resume(observe=observe)
        while outcome.waiting is not None:
            outcome = self.resume(approver(outcome.waiting), observe)
        return outcome

    # -- deciding and stopping ----------------------------------------------------------------
    def recorded_decision(self, waiting: ApprovalRequest) -> Decision | None:
        """The decision already recorded on the batch a loop waits for, if any.

        A decision is written to the registry first and handed to the loop second; whatever ends
        in between (the App's background resume, a killed CLI) leaves it recorded but undelivered,
        and any later resume delivers it instead of waiting for a decision that was already made.
        """
        batch = self.deps.registry.batch(waiting.batch_id)
        if batch is None or batch.status not in ("approved", "rejected"):
            return None
        return Decision(
            approved=batch.status == "approved", by=batch.decided_by or "", reason=batch.reason
        )

    def write_decision(self, batch_id: str, approved: bool, by: str, reason: str = "") -> Decision:
        """Record a decision on the batch the current loop waits for; exactly one decision wins.

        Raises BatchDecisionError for an unknown batch, one no loop waits for, or one already
        decided (the recorded decision is left as it was). Returns the decision to resume with.
        """
        registry = self.deps.registry
        batch = registry.batch(batch_id)
        if batch is None:
            raise UnknownBatchError(
                f"There is no batch {batch_id}; list them with `failforge batches`."
            )
        if batch.status != "proposed":
            raise BatchDecisionError(
                f"Batch {batch_id} is already {batch.status} (by {batch.decided_by}); "
                f"nothing changed."
            )
        loop_id = self.current_id()
        waiting = self.status(loop_id).waiting if loop_id else None
        if waiting is None or waiting.batch_id != batch_id:
            raise BatchDecisionError(f"No loop is waiting for a decision on batch {batch_id}.")
        if not registry.decide_batch(batch_id, "approved" if approved else "rejected", by, reason):
            decided = registry.batch(batch_id)
            assert decided is not None
            raise BatchDecisionError(
                f"Batch {batch_id} is already {decided.status} (by {decided.decided_by}); "
                f"nothing changed."
            )
        registry.log(
            "decision_recorded",
            loop_id or "",
            batch.cycle,
            "request_approval",
            batch_id=batch_id,
            approved=approved,
            by=by,
            reason=reason,
        )
        return Decision(approved=approved, by=by, reason=reason)

    def decide(
        self,
        batch_id: str,
        approved: bool,
        by: str,
        reason: str = "",
        observe: Observer | None = None,
    ) -> LoopOutcome:
        """Approve or reject a proposed batch; the waiting loop resumes with the decision."""
        decision = self.write_decision(batch_id, approved, by, reason)
        return self.resume(decision, observe)

    def stop(self, by: str) -> LoopOutcome | None:
        """End the current loop for good (a paused or waiting one): it is recorded as stopped, and
        a new loop may start. Returns the final outcome, or None when there is no loop."""
        loop_id = self.current_id()
        if loop_id is None:
            return None
        with loop_lock(self.deps):
            status = self.status(loop_id)
            if status.finished:
                return status
            # As if decide_next had just said stop: its edge then leads to the end.
            with locked_as_error("checkpoints"):
                self.graph.update_state(
                    _config(loop_id), {"stop_reason": f"stopped by {by}"}, as_node="decide_next"
                )
            cycle = status.state.cycle if status.state else 0
            self.deps.registry.log("loop_stopped", loop_id, cycle, by=by)
            return self.status(loop_id)
