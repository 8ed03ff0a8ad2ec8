"""The HTTP API against a live server: auth, 401/404/409/422, decisions, SSE and concurrent load."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from agent.entry.api import StreamLimits, callers, check_bind
from tests.service.conftest import REVIEWERS, TOKEN, LiveApi, serve_api


def test_every_route_needs_the_token_and_the_token_is_enough(live_api: LiveApi) -> None:
    with live_api.client(token=None) as anonymous:
        for path in ("/status", "/cycles", "/models", "/batches", "/events", "/events/stream"):
            response = anonymous.get(path)
            assert response.status_code == 401 and "bearer token" in response.json()["detail"]
        assert anonymous.post("/loops", json={"cycles": 1}).status_code == 401
        assert anonymous.get("/openapi.json").status_code == 200  # the schema holds no data
    with live_api.client(token="wrong") as wrong:
        response = wrong.post("/loops", json={"cycles": 1})
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    with live_api.client() as client:
        assert client.post("/loops", json={"cycles": 1, "auto_approve": True}).status_code == 202
    live_api.wait_idle()
    with live_api.client() as client:
        status = client.get("/status").json()
        assert status["incumbent"]["name"] == "v2" and status["loop"]["finished"]
        assert [m["name"] for m in client.get("/models").json()] == ["v1", "v2"]
        assert len(client.get("/cycles").json()) == 1


def test_bad_bodies_get_422_naming_the_field(live_api: LiveApi) -> None:
    with live_api.client() as client:
        response = client.post("/batches/b1/reject", json={})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "reason"]
        response = client.post("/loops", json={"cycles": 0})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == [
            "body",
            "cycles",
        ]


def test_approve_is_recorded_under_the_tokens_name_and_a_second_one_is_refused(
    live_api: LiveApi,
) -> None:
    with live_api.client() as client:
        assert client.post("/loops", json={"cycles": 1}).status_code == 202
        batch_id = live_api.wait_for_batch()
        assert client.post("/batches/nope/approve", json={}).status_code == 404
        with live_api.client(token=REVIEWERS["alice"]) as alice:
            claimed = alice.post(f"/batches/{batch_id}/approve", json={"by": "mallory"})
            assert claimed.status_code == 403 and "token's name" in claimed.json()["detail"]
            response = alice.post(f"/batches/{batch_id}/approve", json={})
        assert response.status_code == 200 and response.json()["approved"]
        live_api.wait_idle()
        again = client.post(f"/batches/{batch_id}/reject", json={"reason": "late"})
        assert again.status_code == 409 and "already approved" in again.json()["detail"]
        batch = next(b for b in client.get("/batches").json() if b["id"] == batch_id)
        assert (batch["status"], batch["decided_by"]) == ("approved", "alice")
    assert live_api.fake.calls["retrain"] == 1


def test_events_stream_as_server_sent_events(live_api: LiveApi) -> None:
    with live_api.client() as client:
        client.post("/loops", json={"cycles": 1, "auto_approve": True})
        live_api.wait_idle()
        with client.stream("GET", "/events/stream", params={"seconds": 1}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in stream.iter_lines() if line.startswith("event: ")]
    kinds = {line.removeprefix("event: ") for line in lines}
    assert {"loop_started", "cycle_finished"} <= kinds


def test_fifty_reads_and_ten_approvals_at_once(live_api: LiveApi) -> None:
    with live_api.client() as client:
        client.post("/loops", json={"cycles": 1})
    batch_id = live_api.wait_for_batch()

    def read(_: int) -> int:
        with live_api.client() as client:
            return client.get("/status").status_code

    def approve(i: int) -> int:
        with live_api.client() as client:
            return client.post(f"/batches/{batch_id}/approve", json={}).status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        reads = pool.map(read, range(50))
        approvals = pool.map(approve, range(10))
        reads, approvals = list(reads), list(approvals)
    live_api.wait_idle()
    assert reads == [200] * 50
    assert sorted(approvals) == [200] + [409] * 9
    recorded = [e for e in live_api.deps.registry.events() if e.kind == "decision_recorded"]
    assert len(recorded) == 1
    assert live_api.fake.calls["retrain"] == 1  # the loop resumed once


def test_pause_stops_between_steps_and_resume_finishes(live_api: LiveApi) -> None:
    import time

    live_api.fake.before["plan"] = lambda: time.sleep(0.5)  # a step long enough to pause in
    with live_api.client() as client:
        client.post("/loops", json={"cycles": 1, "auto_approve": True})
        time.sleep(0.2)
        assert client.post("/loops/current/pause", json={}).json() == {"pausing": True}
        live_api.wait_idle()
        assert not client.get("/status").json()["loop"]["finished"]
        assert client.post("/loops/current/resume", json={}).status_code == 202
        live_api.wait_idle()
        assert client.get("/status").json()["loop"]["finished"]
    assert live_api.fake.calls["plan"] == 1 and live_api.fake.calls["retrain"] == 1


@pytest.mark.parametrize(
    ("host", "token", "ok"),
    [("127.0.0.1", None, True), ("0.0.0.0", None, False), ("0.0.0.0", "t", True)],
)
def test_no_token_no_listening_beyond_loopback(host: str, token: str | None, ok: bool) -> None:
    if ok:
        check_bind(host, callers(token))
    else:
        with pytest.raises(ValueError, match="without FAILFORGE_API_TOKEN"):
            check_bind(host, callers(token))


def test_openapi_schema_is_served(live_api: LiveApi) -> None:
    schema = httpx.get(f"{live_api.url}/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"/status", "/batches/{batch_id}/approve", "/events/stream"} <= set(schema["paths"])


def test_stop_ends_a_waiting_loop_so_a_new_one_can_start(live_api: LiveApi) -> None:
    with live_api.client() as client:
        client.post("/loops", json={"cycles": 2})
        batch_id = live_api.wait_for_batch()
        assert client.post("/loops", json={"cycles": 1}).status_code == 409
        stopped = client.post("/loops/current/stop", json={}).json()
        assert stopped == {"stopped": True, "stop_reason": "stopped by api"}
        assert client.get("/status").json()["loop"]["finished"]
        assert client.post(f"/batches/{batch_id}/approve", json={}).status_code == 409
        assert client.post("/loops", json={"cycles": 1, "auto_approve": True}).status_code == 202
    live_api.wait_idle()
    assert live_api.fake.calls["retrain"] == 1


@pytest.mark.parametrize(
    "batch_id",
    [
        "..%2F..%2Fregistry.sqlite",  # URL-encoded `../`
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%2Fetc%2Fpasswd",  # an absolute path
        "..",
        "b1%00",
        "b1;DROP TABLE batches",
        "x" * 200,
    ],
)
def test_ids_that_try_to_leave_the_workspace_are_refused_and_touch_nothing(
    live_api: LiveApi, batch_id: str
) -> None:
    before = (len(live_api.deps.registry.events()), len(live_api.deps.registry.batches()))
    with live_api.client() as client:
        for verb in ("approve", "reject"):
            response = client.post(f"/batches/{batch_id}/{verb}", json={"reason": "r"})
            assert response.status_code in (404, 422), (batch_id, response.status_code)
    assert (len(live_api.deps.registry.events()), len(live_api.deps.registry.batches())) == before


def test_bodies_over_the_limit_get_413_read_or_not(live_api: LiveApi) -> None:
    huge = {"reason": "x" * 100_000}
    with live_api.client() as client:
        declared = client.post("/batches/b1/reject", json=huge)
        assert declared.status_code == 413 and "smaller" in declared.json()["detail"]

        def chunks():  # no Content-Length: the body is counted as it arrives
            yield b'{"reason": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}'

        chunked = client.post(
            "/batches/b1/reject", content=chunks(), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413
        assert client.post("/batches/b1/reject", json={"reason": "short"}).status_code == 404


def test_dropped_event_streams_leak_no_task_thread_or_slot(tmp_path: Path) -> None:
    # Room for every stream at once: a slot freed late must not read as a refusal here.
    with serve_api(tmp_path, streams=StreamLimits(max_open=1000)) as live_api:
        _drop_streams(live_api)


def _drop_streams(live_api: LiveApi) -> None:
    import os
    import socket
    import threading
    import time
    from urllib.parse import urlsplit

    host, port = urlsplit(live_api.url).hostname, urlsplit(live_api.url).port
    assert live_api.server is not None and host and port

    def connect_and_drop() -> None:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(
                f"GET /events/stream HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
            )
            assert b"200" in sock.recv(4096)  # the stream started; the client goes away

    def settled() -> tuple[int, int, int]:
        """Server tasks left, threads other than the event loop's reader pool, and that pool's size."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and live_api.server.server_state.tasks:  # type: ignore[union-attr]
            time.sleep(0.1)
        names = [t.name for t in threading.enumerate()]
        pool = sum(n.startswith(("asyncio", "uvloop")) for n in names)  # the default executor
        return len(live_api.server.server_state.tasks), len(names) - pool, pool  # type: ignore[union-attr]

    for _ in range(5):
        connect_and_drop()
    _, others_before, _ = settled()
    for _ in range(200):
        connect_and_drop()
    tasks, others_after, pool = settled()
    print(
        f"after 200 dropped streams: {tasks} tasks, other threads {others_before} -> {others_after}"
    )
    # The registry is read in asyncio's default thread pool, which is bounded and reused.
    assert tasks == 0 and others_after == others_before
    assert len(live_api.app.state.streams) == 0  # type: ignore[attr-defined]
    assert pool <= min(32, (os.cpu_count() or 1) + 4)
