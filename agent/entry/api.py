"""The HTTP service: status, cycles, models, batches and events to read; loops and decisions to write."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from agent.control.queries import batch_rows, status_payload
from agent.control.runner import (
    BatchDecisionError,
    LoopBusyError,
    LoopOutcome,
    current_loop_id,
    loop_status,
    record_decision,
    resume_loop,
    start_loop,
    stop_loop,
)
from agent.deps import Deps

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_EVENT_ID = 2**62  # SQLite integers are 64-bit: a larger cursor is a client error, not a 500
# Module level: FastAPI resolves the (string) annotations of dependencies against module names.
bearer = HTTPBearer(auto_error=False)


class StartLoop(BaseModel):
    cycles: int = Field(1, ge=1, le=100)
    budget: int | None = Field(None, ge=1)
    auto_approve: bool = False


class Approve(BaseModel):
    by: str = Field("api", min_length=1, max_length=64)


class Stop(BaseModel):
    by: str = Field("api", min_length=1, max_length=64)


class Reject(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    by: str = Field("api", min_length=1, max_length=64)


class LoopPaused(Exception):
    """Raised between steps to pause a loop; its checkpoint lets it resume later."""


class LoopService:
    """Runs at most one loop at a time in a background thread; pausing stops between steps."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._thread: threading.Thread | None = None
        self._pause = threading.Event()
        self._guard = threading.Lock()
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _observe(self, node: str, update: dict[str, Any]) -> None:
        if self._pause.is_set():
            raise LoopPaused(node)

    def _run(self, work: Callable[[], LoopOutcome]) -> None:
        def target() -> None:
            try:
                work()
            except LoopPaused as paused:
                self.deps.registry.log(
                    "loop_paused", current_loop_id(self.deps) or "", 0, str(paused)
                )
            except Exception as error:  # reported on /status, and in the event log
                self.last_error = f"{type(error).__name__}: {error}"
                self.deps.registry.log(
                    "loop_failed", current_loop_id(self.deps) or "", 0, error=self.last_error
                )

        with self._guard:
            if self.running:
                raise LoopBusyError("A loop is already running in this service.")
            self._pause.clear()
            self.last_error = None
            self._thread = threading.Thread(target=target, name="failforge-loop", daemon=True)
            self._thread.start()

    def start(self, cycles: int, budget: int, auto_approve: bool) -> None:
        loop_id = current_loop_id(self.deps)
        if loop_id is not None and not loop_status(self.deps, loop_id).finished:
            raise LoopBusyError(f"Loop {loop_id} is not finished; resume or stop it first.")
        self._run(lambda: start_loop(self.deps, cycles, budget, auto_approve, self._observe))

    def resume(self, decision: dict[str, Any] | None = None) -> None:
        self._run(lambda: resume_loop(self.deps, decision, self._observe))

    def pause(self) -> bool:
        self._pause.set()
        return self.running

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def create_app(deps: Deps, token: str | None) -> FastAPI:
    """The service for one workspace; writes need `Authorization: Bearer <token>` when one is set."""
    app = FastAPI(
        title="failforge",
        version="0.1.0",
        description="Closed-loop active learning for object detectors.",
    )
    service = LoopService(deps)
    app.state.service = service

    def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if token is None:
            return
        if credentials is None or not secrets.compare_digest(credentials.credentials, token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    writes = [Depends(authorised)]

    def loop_summary() -> dict[str, Any] | None:
        loop_id = current_loop_id(deps)
        if loop_id is None:
            return None
        outcome = loop_status(deps, loop_id)
        state = outcome.state
        return {
            "loop_id": loop_id,
            "running": service.running,
            "finished": outcome.finished,
            "stop_reason": outcome.stop_reason,
            "waiting": outcome.waiting,
            "cycle": state.cycle if state else None,
            "error": service.last_error,
        }

    @app.get("/status")
    def get_status(split: Annotated[str, Query(pattern="^(val|test)$")] = "test") -> dict[str, Any]:
        return {**status_payload(deps, split), "loop": loop_summary()}

    @app.get("/cycles")
    def get_cycles() -> list[dict[str, Any]]:
        loop_id = current_loop_id(deps)
        state = loop_status(deps, loop_id).state if loop_id else None
        return [r.model_dump() for r in state.history] if state else []

    @app.get("/models")
    def get_models() -> list[dict[str, Any]]:
        return [
            {
                "name": m.name,
                "parent": m.parent,
                "status": m.status,
                "cycle": m.cycle,
                "reason": m.reason,
                "created_at": m.created_at.isoformat(),
                "val": m.metrics.get("val", {}).get("overall"),
            }
            for m in deps.registry.models()
        ]

    @app.get("/batches")
    def get_batches() -> list[dict[str, Any]]:
        return batch_rows(deps)

    def event_dict(e: Any) -> dict[str, Any]:
        return {
            "id": e.id,
            "at": e.at.isoformat(),
            "loop_id": e.loop_id,
            "cycle": e.cycle,
            "step": e.step,
            "kind": e.kind,
            "payload": e.payload,
        }

    @app.get("/events")
    def get_events(
        after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        return [event_dict(e) for e in deps.registry.events(after, limit)]

    @app.get("/events/stream")
    async def stream_events(
        request: Request,
        after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
        seconds: Annotated[float, Query(gt=0, le=3600)] = 600,
    ) -> StreamingResponse:
        """Server-sent events: every new event as `data: {json}`, for `seconds` at most."""

        async def events() -> AsyncIterator[str]:
            last, deadline = after, asyncio.get_running_loop().time() + seconds
            yield ": connected\n\n"
            while asyncio.get_running_loop().time() < deadline:
                if await request.is_disconnected():
                    return
                for event in await asyncio.to_thread(deps.registry.events, last, 100):
                    last = event.id
                    yield f"id: {event.id}\nevent: {event.kind}\ndata: {json.dumps(event_dict(event))}\n\n"
                await asyncio.sleep(0.25)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/loops", status_code=status.HTTP_202_ACCEPTED, dependencies=writes)
    def post_loop(body: StartLoop) -> dict[str, Any]:
        try:
            service.start(body.cycles, body.budget or deps.settings.loop.budget, body.auto_approve)
        except LoopBusyError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        return {"started": True}

    @app.post("/loops/current/resume", status_code=status.HTTP_202_ACCEPTED, dependencies=writes)
    def post_resume() -> dict[str, Any]:
        try:
            service.resume()
        except LoopBusyError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        return {"resumed": True}

    @app.post("/loops/current/pause", dependencies=writes)
    def post_pause() -> dict[str, Any]:
        """Pause the running loop after its current step; resume it later where it stopped."""
        return {"pausing": service.pause()}

    @app.post("/loops/current/stop", dependencies=writes)
    def post_stop(body: Stop) -> dict[str, Any]:
        """Stop the loop for good: pause it if it runs, then record it as stopped."""
        service.pause()
        service.wait(600)
        outcome = stop_loop(deps, body.by)
        return {
            "stopped": outcome is not None,
            "stop_reason": outcome.stop_reason if outcome else None,
        }

    def decide(batch_id: str, approved: bool, by: str, reason: str) -> dict[str, Any]:
        if service.running:
            raise HTTPException(status.HTTP_409_CONFLICT, "The loop is still running.")
        try:
            decision = record_decision(deps, batch_id, approved, by, reason)
        except BatchDecisionError as error:
            code = (
                status.HTTP_404_NOT_FOUND
                if "There is no batch" in str(error)
                else status.HTTP_409_CONFLICT
            )
            raise HTTPException(code, str(error)) from None
        service.resume(decision)
        return {"batch_id": batch_id, **decision}

    @app.post("/batches/{batch_id}/approve", dependencies=writes)
    def post_approve(batch_id: str, body: Approve) -> dict[str, Any]:
        return decide(batch_id, True, body.by, "approved")

    @app.post("/batches/{batch_id}/reject", dependencies=writes)
    def post_reject(batch_id: str, body: Reject) -> dict[str, Any]:
        return decide(batch_id, False, body.by, body.reason)

    return app


def check_bind(host: str, token: str | None) -> None:
    """The service never listens beyond loopback without a token."""
    if host not in LOOPBACK and not token:
        raise ValueError(
            f"Refusing to listen on {host} without FAILFORGE_API_TOKEN; "
            f"set a token or use 127.0.0.1."
        )
