"""The HTTP service: status, cycles, models, batches and events to read; loops and decisions to write.

One router per concern (reads, loops, decisions); each calls one function of agent/control, as
the CLI and the App do. `guard.Doors` decides who may call any of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Depends, FastAPI
from fastapi.security import HTTPBearer

from agent.control.runner import LoopDriver
from agent.entry.api.guard import LOOPBACK, Doors, callers, check_bind
from agent.entry.api.limits import LimitBodySize
from agent.entry.api.reads import OpenStreams, StreamLimits, reads_router
from agent.entry.api.service import LoopService
from agent.entry.api.writes import decisions_router, loops_router
from agent.ports import Deps

__all__ = ["LOOPBACK", "StreamLimits", "callers", "check_bind", "create_app"]

# Declares the scheme in the OpenAPI schema; `Doors` checks the token before any route runs.
bearer = HTTPBearer(auto_error=False)


def create_app(
    deps: Deps,
    token: str | None,
    reviewers: Mapping[str, str] | None = None,
    streams: StreamLimits | None = None,
) -> FastAPI:
    """The service for one workspace. With a token (or reviewers' tokens) every route needs
    `Authorization: Bearer <token>`; without one it answers loopback callers only."""
    tokens = callers(token, reviewers)
    app = FastAPI(
        title="failforge",
        version="0.1.0",
        description="Closed-loop active learning for object detectors.",
    )
    service = LoopService(LoopDriver(deps))
    app.state.service = service
    guarded = [Depends(bearer)] if tokens else []
    app.state.streams = OpenStreams(streams or StreamLimits())
    app.include_router(reads_router(deps, service, app.state.streams, guarded))
    app.include_router(loops_router(deps, service, guarded))
    app.include_router(decisions_router(deps, service, guarded))
    # The last added runs first: the doors before anything reads the body.
    app.add_middleware(LimitBodySize)
    app.add_middleware(Doors, tokens=tokens)
    return app
