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
from agent.entry.api.models import BatchRead, EventRead, LoopSummary, ModelRead, StatusRead
from agent.entry.api.service import LoopService
from agent.ports import Deps
from agent.state import CycleRecord
from evaluation.metrics import DetectionMetrics, EvaluationResult
from storage.registry import ModelVersion

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


def event_read(e: Any) -> EventRead:
    return EventRead(
        id=e.id,
        at=e.at.isoformat(),
        loop_id=e.loop_id,
        cycle=e.cycle,
        step=e.step,
        kind=e.kind,
        payload=e.payload,
    )


def _overall(evaluation: EvaluationResult | None) -> DetectionMetrics | None:
    return evaluation.overall if evaluation else None


def loop_summary(service: LoopService) -> LoopSummary | None:
    outcome = service.driver.current()
    if outcome is None:
        return None
    state = outcome.state
    return LoopSummary(
        loop_id=outcome.loop_id,
        running=service.running,
        finished=outcome.finished,
        stop_reason=outcome.stop_reason,
        waiting=outcome.waiting,
        cycle=state.cycle if state else None,
        error=service.last_error,
    )


def reads_router(
    deps: Deps, service: LoopService, streams: OpenStreams, guarded: list[params.Depends]
) -> APIRouter:
    router = APIRouter(dependencies=guarded)

    @router.get("/status", response_model=StatusRead)
    def get_status(split: Annotated[str, Query(pattern="^(val|test)$")] = "test") -> StatusRead:
        return StatusRead(**status_payload(deps, split), loop=loop_summary(service))

    @router.get("/cycles", response_model=list[CycleRecord])
    def get_cycles() -> list[CycleRecord]:
        state = service.driver.current_state()
        return state.history if state else []

    @router.get("/models", response_model=list[ModelRead])
    def get_models() -> list[ModelRead]:
        return [_model_read(m) for m in deps.registry.models()]

    @router.get("/batches", response_model=list[BatchRead])
    def get_batches() -> list[BatchRead]:
        return [BatchRead.model_validate(row) for row in batch_rows(deps)]

    @router.get("/events", response_model=list[EventRead])
    def get_events(
        after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[EventRead]:
        return [event_read(e) for e in deps.registry.events(after, limit)]

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

        lines = _event_lines(deps, request, max(after, last_event_id or 0), seconds, idle)
        return EventStream(lines, streams)

    return router


def _model_read(m: ModelVersion) -> ModelRead:
    return ModelRead(
        name=m.name,
        parent=m.parent,
        status=m.status,
        cycle=m.cycle,
        reason=m.reason,
        created_at=m.created_at.isoformat(),
        val=_overall(EvaluationResult.recorded(m.metrics, "val")),
    )


async def _event_lines(
    deps: Deps, request: Request, last: int, seconds: float, idle: float
) -> AsyncIterator[str]:
    """The stream's text: events after `last` as they come, until `seconds` pass, the client
    leaves, or none came for `idle` seconds."""
    clock = asyncio.get_running_loop().time
    deadline, quiet_since = clock() + seconds, clock()
    yield ": connected\n\n"
    while clock() < deadline:
        if await request.is_disconnected():
            return
        for event in await asyncio.to_thread(deps.registry.events, last, 100):
            last, quiet_since = event.id, clock()
            yield f"id: {event.id}\nevent: {event.kind}\ndata: {json.dumps(event_read(event).model_dump())}\n\n"
        if clock() - quiet_since >= idle:
            yield f": no event for {idle:g} s; reconnect with after={last}\n\n"
            return
        await asyncio.sleep(0.25)
