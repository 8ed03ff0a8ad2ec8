"""The API's reads: status, cycles, models, batches and events (also as a server-sent stream)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from agent.control.queries import batch_rows, status_payload
from agent.control.runner import current_loop_id, loop_status
from agent.deps import Deps
from agent.entry.api.service import LoopService

MAX_EVENT_ID = 2**62  # SQLite integers are 64-bit: a larger cursor is a client error, not a 500


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


def loop_summary(deps: Deps, service: LoopService) -> dict[str, Any] | None:
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


def reads_router(deps: Deps, service: LoopService) -> APIRouter:
    router = APIRouter()

    @router.get("/status")
    def get_status(split: Annotated[str, Query(pattern="^(val|test)$")] = "test") -> dict[str, Any]:
        return {**status_payload(deps, split), "loop": loop_summary(deps, service)}

    @router.get("/cycles")
    def get_cycles() -> list[dict[str, Any]]:
        loop_id = current_loop_id(deps)
        state = loop_status(deps, loop_id).state if loop_id else None
        return [r.model_dump() for r in state.history] if state else []

    @router.get("/models")
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

    @router.get("/batches")
    def get_batches() -> list[dict[str, Any]]:
        return batch_rows(deps)

    @router.get("/events")
    def get_events(
        after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        return [event_dict(e) for e in deps.registry.events(after, limit)]

    @router.get("/events/stream")
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

    return router
