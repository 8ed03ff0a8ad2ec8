"""The API's writes: start, resume, pause and stop the loop; approve or reject a batch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, status
from fastapi import Path as PathParam
from fastapi.params import Depends
from pydantic import BaseModel, Field

from agent.control.runner import (
    BatchDecisionError,
    LoopBusyError,
    UnknownBatchError,
    record_decision,
    stop_loop,
)
from agent.deps import Deps
from agent.entry.api.service import LoopService

# A batch id is `<loop id>-c<cycle>-r<revision>`: letters, digits, `-` and `_` only, so an id can
# never name a path (`../`, `/etc`, `%2e%2e%2f` once decoded) and is refused with 422 unread.
BatchId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")]


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


def loops_router(deps: Deps, service: LoopService, writes: list[Depends]) -> APIRouter:
    router = APIRouter(dependencies=writes)

    @router.post("/loops", status_code=status.HTTP_202_ACCEPTED)
    def post_loop(body: StartLoop) -> dict[str, Any]:
        try:
            service.start(body.cycles, body.budget or deps.settings.loop.budget, body.auto_approve)
        except LoopBusyError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        return {"started": True}

    @router.post("/loops/current/resume", status_code=status.HTTP_202_ACCEPTED)
    def post_resume() -> dict[str, Any]:
        try:
            service.resume()
        except LoopBusyError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        return {"resumed": True}

    @router.post("/loops/current/pause")
    def post_pause() -> dict[str, Any]:
        """Pause the running loop after its current step; resume it later where it stopped."""
        return {"pausing": service.pause()}

    @router.post("/loops/current/stop")
    def post_stop(body: Stop) -> dict[str, Any]:
        """Stop the loop for good: pause it if it runs, then record it as stopped."""
        service.pause()
        service.wait(600)
        outcome = stop_loop(deps, body.by)
        return {
            "stopped": outcome is not None,
            "stop_reason": outcome.stop_reason if outcome else None,
        }

    return router


def decisions_router(deps: Deps, service: LoopService, writes: list[Depends]) -> APIRouter:
    router = APIRouter(dependencies=writes)

    def decide(batch_id: str, approved: bool, by: str, reason: str) -> dict[str, Any]:
        if service.running:
            raise HTTPException(status.HTTP_409_CONFLICT, "The loop is still running.")
        try:
            decision = record_decision(deps, batch_id, approved, by, reason)
        except UnknownBatchError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except BatchDecisionError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        service.resume(decision)
        return {"batch_id": batch_id, **decision}

    @router.post("/batches/{batch_id}/approve")
    def post_approve(batch_id: BatchId, body: Approve) -> dict[str, Any]:
        return decide(batch_id, True, body.by, "approved")

    @router.post("/batches/{batch_id}/reject")
    def post_reject(batch_id: BatchId, body: Reject) -> dict[str, Any]:
        return decide(batch_id, False, body.by, body.reason)

    return router
