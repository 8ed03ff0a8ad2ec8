"""The API's writes: start, resume, pause and stop the loop; approve or reject a batch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, params, status
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.control.runner import BatchDecisionError, LoopBusyError, UnknownBatchError
from agent.entry.api.service import LoopService
from agent.ports import Deps

# A batch id is `<loop id>-c<cycle>-r<revision>`: letters, digits, `-` and `_` only, so an id can
# never name a path (`../`, `/etc`, `%2e%2e%2f` once decoded) and is refused with 422 unread.
BatchId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")]
# Without a token (loopback mode) the person at the machine names themselves; with tokens the
# name is the token's, and `by` may only repeat it.
LOCAL_NAME = "api"
Who = Field(None, min_length=1, max_length=64, description="loopback mode only: who decides")


class NoOptions(BaseModel):
    """An empty JSON object: writes carry a JSON body, so a cross-site form cannot send them."""

    model_config = ConfigDict(extra="forbid")


class StartLoop(BaseModel):
    cycles: int = Field(1, ge=1, le=100)
    budget: int | None = Field(None, ge=1)
    auto_approve: bool = False


class Approve(BaseModel):
    by: str | None = Who


class Stop(BaseModel):
    by: str | None = Who


class Reject(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    by: str | None = Who


def caller(request: Request) -> str | None:
    """The name of the token the request came with (set by `guard.Doors`); None in loopback mode."""
    return getattr(request.state, "caller", None)


Caller = Annotated[str | None, Depends(caller)]


def decider(authenticated: str | None, by: str | None) -> str:
    """Who a decision or a stop is recorded under: the token's name, never a free-text claim."""
    if authenticated is None:
        return by or LOCAL_NAME
    if by is not None and by != authenticated:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"Your token is '{authenticated}''s; a decision is recorded under the token's name, "
            f"so `by` cannot say '{by}' (leave it out).",
        )
    return authenticated


def loops_router(deps: Deps, service: LoopService, guarded: list[params.Depends]) -> APIRouter:
    router = APIRouter(dependencies=guarded)

    @router.post("/loops", status_code=status.HTTP_202_ACCEPTED)
    def post_loop(body: StartLoop) -> dict[str, Any]:
        try:
            service.start(body.cycles, body.budget or deps.settings.loop.budget, body.auto_approve)
        except LoopBusyError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        return {"started": True}

    @router.post("/loops/current/resume", status_code=status.HTTP_202_ACCEPTED)
    def post_resume(body: NoOptions) -> dict[str, Any]:
        try:
            service.resume()
        except LoopBusyError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        return {"resumed": True}

    @router.post("/loops/current/pause")
    def post_pause(body: NoOptions) -> dict[str, Any]:
        """Pause the running loop after its current step; resume it later where it stopped."""
        return {"pausing": service.pause()}

    @router.post("/loops/current/stop")
    def post_stop(body: Stop, who: Caller) -> dict[str, Any]:
        """Stop the loop for good: pause it if it runs, then record it as stopped."""
        by = decider(who, body.by)
        service.pause()
        service.wait(600)
        outcome = service.driver.stop(by)
        return {
            "stopped": outcome is not None,
            "stop_reason": outcome.stop_reason if outcome else None,
        }

    return router


def decisions_router(deps: Deps, service: LoopService, guarded: list[params.Depends]) -> APIRouter:
    router = APIRouter(dependencies=guarded)

    def decide(batch_id: str, approved: bool, by: str, reason: str) -> Any:
        if service.running:
            raise HTTPException(status.HTTP_409_CONFLICT, "The loop is still running.")
        try:
            decision = service.driver.write_decision(batch_id, approved, by, reason)
        except UnknownBatchError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except BatchDecisionError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        try:
            service.resume(decision)
        except LoopBusyError as error:
            # The decision is kept (exactly one wins); only the resume has to wait.
            return JSONResponse(
                {
                    "batch_id": batch_id,
                    **decision.model_dump(),
                    "resumed": False,
                    "detail": f"The decision was recorded, but the loop cannot resume now "
                    f"({error}); resume it with POST /loops/current/resume once it is free.",
                },
                status_code=status.HTTP_202_ACCEPTED,
            )
        return {"batch_id": batch_id, **decision.model_dump(), "resumed": True}

    @router.post("/batches/{batch_id}/approve", response_model=None)
    def post_approve(batch_id: BatchId, body: Approve, who: Caller) -> Any:
        return decide(batch_id, True, decider(who, body.by), "approved")

    @router.post("/batches/{batch_id}/reject", response_model=None)
    def post_reject(batch_id: BatchId, body: Reject, who: Caller) -> Any:
        return decide(batch_id, False, decider(who, body.by), body.reason)

    return router
