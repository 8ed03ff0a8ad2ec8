"""The API's reads: status, cycles, models, batches and events (also as a server-sent stream)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, params
from fastapi.responses import JSONResponse, StreamingResponse

from agent.control.queries import batch_rows, status_payload
from agent.control.runner import current_loop_id, loop_status
from agent.entry.api.service import LoopService
from agent.ports import Deps

MAX_EVENT_ID = 2**62  # SQLite integers are 64-bit: a larger cursor is a client error, not a 500
# A stream lasts ten minutes at most; a client that wants more reconnects from its last event id
# (EventSource does so by itself, sending `Last-Event-ID`).
MAX_STREAM_SECONDS = 600


@dataclass(frozen=True)
class StreamLimits:
    """How many event streams the server keeps open, and how long one may send nothing."""

    max_open: int = 8
    idle_seconds: float = 60.0


class OpenStreams:
    """The event streams being served now: a slot is taken before the response and given back
    when the response ends, however it ends (done, idle, client gone, server stopping)."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
        self.open = 0

    def __len__(self) -> int:
        return self.open

    def take(self) -> bool:
        if self.open >= self.limits.max_open:
            return False
        self.open += 1  # on the event loop's thread only: no lock needed
        return True

    def give_back(self) -> None:
        self.open -= 1


class EventStream(StreamingResponse):
    """A server-sent event stream that gives its slot back when it ends. Released here, not in
    the generator: a client gone before the first byte leaves the generator never started, and
    an unstarted generator's `finally` never runs."""

    def __init__(self, events: AsyncIterator[str], streams: OpenStreams) -> None:
        super().__init__(events, media_type="text/event-stream")
        self.streams = streams

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.streams.give_back()


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


def reads_router(
    deps: Deps, service: LoopService, streams: OpenStreams, guarded: list[params.Depends]
) -> APIRouter:
    router = APIRouter(dependencies=guarded)

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

    @router.get("/events/stream", response_model=None)
    async def stream_events(
        request: Request,
        after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
        seconds: Annotated[float, Query(gt=0, le=MAX_STREAM_SECONDS)] = MAX_STREAM_SECONDS,
        last_event_id: Annotated[int | None, Header(ge=0, le=MAX_EVENT_ID)] = None,
    ) -> EventStream | JSONResponse:
        """Server-sent events: every new event as `data: {json}`, for `seconds` at most, and
        until no event came for the server's idle limit; reconnect with `after` (or
        `Last-Event-ID`) set to the last id seen. 503 while the most streams are open."""
        if not streams.take():
            return JSONResponse(
                {
                    "detail": f"{len(streams)} event streams are open, the most this server "
                    "keeps; close one, or poll GET /events?after=<last id>."
                },
                status_code=503,
                headers={"Retry-After": "10"},
            )
        idle = streams.limits.idle_seconds

        async def events() -> AsyncIterator[str]:
            clock = asyncio.get_running_loop().time
            last = max(after, last_event_id or 0)
            deadline, quiet_since = clock() + seconds, clock()
            yield ": connected\n\n"
            while clock() < deadline:
                if await request.is_disconnected():
                    return
                for event in await asyncio.to_thread(deps.registry.events, last, 100):
                    last, quiet_since = event.id, clock()
                    yield f"id: {event.id}\nevent: {event.kind}\ndata: {json.dumps(event_dict(event))}\n\n"
                if clock() - quiet_since >= idle:
                    yield f": no event for {idle:g} s; reconnect with after={last}\n\n"
                    return
                await asyncio.sleep(0.25)

        return EventStream(events(), streams)

    return router
