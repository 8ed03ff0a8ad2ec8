"""The HTTP service: status, cycles, models, batches and events to read; loops and decisions to write.

One router per concern (reads, loops, decisions); each calls one function of agent/control, as
the CLI and the App do.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent.deps import Deps
from agent.entry.api.limits import LimitBodySize
from agent.entry.api.reads import reads_router
from agent.entry.api.service import LoopService
from agent.entry.api.writes import decisions_router, loops_router

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Module level: FastAPI resolves the (string) annotations of dependencies against module names.
bearer = HTTPBearer(auto_error=False)


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

    app.add_middleware(LimitBodySize)
    writes = [Depends(authorised)]
    app.include_router(reads_router(deps, service))
    app.include_router(loops_router(deps, service, writes))
    app.include_router(decisions_router(deps, service, writes))
    return app


def check_bind(host: str, token: str | None) -> None:
    """The service never listens beyond loopback without a token."""
    if host not in LOOPBACK and not token:
        raise ValueError(
            f"Refusing to listen on {host} without FAILFORGE_API_TOKEN; "
            f"set a token or use 127.0.0.1."
        )
