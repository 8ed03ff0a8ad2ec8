"""A real uvicorn server on 127.0.0.1 serving the API over a workspace whose loop runs on fakes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from agent.entry.api import StreamLimits, create_app
from agent.ports import Deps
from tests.fakes import FakeWork, fake_deps

TOKEN = "s3cret-token"
REVIEWERS = {"alice": "alice-token-1", "bob": "bob-token-2"}


@dataclass
class LiveApi:
    url: str
    deps: Deps
    fake: FakeWork
    app: object
    server: uvicorn.Server | None = None

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def wait_idle(self, timeout: float = 30) -> None:
        self.app.state.service.wait(timeout)  # type: ignore[attr-defined]

    def wait_for_batch(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while time.monotonic() < deadline:
                loop = client.get("/status").json()["loop"]
                if loop and loop["waiting"]:
                    # The status shows the wait once it is checkpointed, a moment before the
                    # loop's thread returns; a decision before then is "still running" (409).
                    self.wait_idle(timeout)
                    return str(loop["waiting"]["batch_id"])
                time.sleep(0.05)
        raise TimeoutError("the loop never asked for a decision")


@contextlib.contextmanager
def serve_api(
    root: Path,
    token: str | None = TOKEN,
    reviewers: Mapping[str, str] | None = None,
    streams: StreamLimits | None = None,
) -> Iterator[LiveApi]:
    """The API over a fresh workspace of fakes, served by uvicorn on a free loopback port."""
    fake = FakeWork()
    deps = fake_deps(root, fake)
    app = create_app(deps, token, reviewers, streams)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", deps, fake, app, server)
    finally:
        app.state.service.pause()
        app.state.service.wait(10)
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live_api(tmp_path: Path) -> Iterator[LiveApi]:
    """A server with a token (and two reviewers' tokens): every route needs one."""
    with serve_api(tmp_path, TOKEN, REVIEWERS) as api:
        yield api


@pytest.fixture
def loopback_api(tmp_path: Path) -> Iterator[LiveApi]:
    """A server without a token: it answers loopback callers, never another site's pages."""
    with serve_api(tmp_path, None) as api:
        yield api
