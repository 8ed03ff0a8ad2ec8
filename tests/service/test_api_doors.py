"""The API's doors on a live server: malformed credentials, cross-site requests, capped streams."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from agent.control.runner import LoopBusyError
from agent.entry.api import StreamLimits
from tests.service.conftest import TOKEN, LiveApi, serve_api


def raw_request(api: LiveApi, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Status and body of a request sent byte for byte (httpx refuses to send some of these)."""
    parts = urlsplit(api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode("utf-8") + b"\r\nConnection: close\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer s3cret-tökén",  # non-ASCII: compare_digest on str raised, a 500 before
        "Bearer \u2603",
        f"Basic {TOKEN}",  # the right secret under the wrong scheme
        "Bearer",
        "Bearer ",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
    ],
)
def test_any_malformed_credential_is_401(live_api: LiveApi, authorization: str) -> None:
    host = urlsplit(live_api.url).netloc
    for line in ("GET /status HTTP/1.1", "GET /events/stream HTTP/1.1"):
        code, body = raw_request(
            live_api, f"{line}\r\nHost: {host}\r\nAuthorization: {authorization}"
        )
        assert code == 401 and b"bearer token" in body, (authorization, line)


def test_a_recorded_decision_whose_resume_is_busy_answers_202(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live_api.client() as client:
        client.post("/loops", json={"cycles": 1})
        batch_id = live_api.wait_for_batch()

        def busy(decision: object = None) -> None:  # the service's thread started in between
            raise LoopBusyError("A loop is already running in this service.")

        monkeypatch.setattr(live_api.app.state.service, "resume", busy)  # type: ignore[attr-defined]
        response = client.post(f"/batches/{batch_id}/approve", json={})
        assert response.status_code == 202
        body = response.json()
        assert body["approved"] is True and body["resumed"] is False
        assert "recorded" in body["detail"] and "/loops/current/resume" in body["detail"]
    assert live_api.deps.registry.batch(batch_id).status == "approved"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",  # another site's name
        "attacker.example:{port}",  # a name rebound to 127.0.0.1 (DNS rebinding)
        "127.0.0.1:1",  # another port on this machine
        "127.0.0.1:{port}.evil.example",
        "",
    ],
)
def test_loopback_mode_answers_only_its_own_host(loopback_api: LiveApi, host: str) -> None:
    port = urlsplit(loopback_api.url).port
    target = host.format(port=port)
    for line in ("GET /status HTTP/1.1", "GET /openapi.json HTTP/1.1"):
        code, body = raw_request(loopback_api, f"{line}\r\nHost: {target}")
        assert code == 403 and b"loopback" in body, (target, line)
    code, _ = raw_request(
        loopback_api,
        f"POST /loops/current/pause HTTP/1.1\r\nHost: {target}\r\n"
        "Content-Type: application/json\r\nContent-Length: 2",
        b"{}",
    )
    assert code == 403


def test_loopback_mode_refuses_other_sites_pages_and_bodiless_writes(
    loopback_api: LiveApi,
) -> None:
    port = urlsplit(loopback_api.url).port
    with httpx.Client(base_url=loopback_api.url, timeout=30) as client:
        assert client.get("/status").status_code == 200
        assert client.get("/status", headers={"Host": f"localhost:{port}"}).status_code == 200
        own = {"Origin": f"http://localhost:{port}"}
        assert client.post("/loops/current/pause", json={}, headers=own).status_code == 200
        for origin in ("https://evil.example", "null", f"http://127.0.0.1:{port}.evil.example"):
            response = client.post("/loops/current/pause", json={}, headers={"Origin": origin})
            assert response.status_code == 403 and "refused" in response.json()["detail"]
        # What a cross-site form or a simple fetch can send: no JSON content type.
        for body in (
            {"content": b""},
            {"content": b"{}", "headers": {"Content-Type": "text/plain"}},
            {"data": {"cycles": "1"}},
        ):
            for path in ("/loops/current/pause", "/loops/current/resume", "/loops"):
                response = client.post(path, **body)  # type: ignore[arg-type]
                assert response.status_code == 415, (path, body)
                assert "application/json" in response.json()["detail"]
        # Without a token the person at the machine names themselves.
        client.post("/loops", json={"cycles": 1})
        batch_id = loopback_api.wait_for_batch()
        response = client.post(f"/batches/{batch_id}/approve", json={"by": "erin"})
        assert response.status_code == 200
    assert loopback_api.deps.registry.batch(batch_id).decided_by == "erin"  # type: ignore[union-attr]


def test_event_streams_are_capped_in_number_and_in_idle_time(tmp_path: Path) -> None:
    limits = StreamLimits(max_open=2, idle_seconds=1.0)
    with serve_api(tmp_path, streams=limits) as api, api.client() as client:
        opened = [client.stream("GET", "/events/stream") for _ in range(2)]
        held = [stream.__enter__() for stream in opened]
        assert [r.status_code for r in held] == [200, 200]
        refused = client.get("/events/stream")
        assert refused.status_code == 503 and "2 event streams are open" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "10"
        for stream in opened:
            stream.__exit__(None, None, None)
        # A stream with nothing to say ends after the idle limit, telling where to go on from.
        deadline = time.monotonic() + 10
        while len(api.app.state.streams) and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        started = time.monotonic()
        with client.stream("GET", "/events/stream", params={"seconds": 30}) as quiet:
            assert quiet.status_code == 200
            lines = list(quiet.iter_lines())
        assert time.monotonic() - started < 10
        assert lines[-2] == ": no event for 1 s; reconnect with after=0"
        # The default caps: ten minutes at most per stream.
        assert client.get("/events/stream", params={"seconds": 3600}).status_code == 422


def test_status_read_while_a_loop_starts_never_finds_half_a_file(loopback_api: LiveApi) -> None:
    """Found by the fuzzing below: the current-loop file was truncated, then written, and a
    status read between the two answered 500."""
    import threading

    from agent.control.runner import LoopDriver

    done = threading.Event()
    LoopDriver(loopback_api.deps).set_current("loop123456")

    def start_loops() -> None:
        while not done.is_set():
            LoopDriver(loopback_api.deps).set_current("loop123456")

    writer = threading.Thread(target=start_loops)
    writer.start()
    try:
        seen = {LoopDriver(loopback_api.deps).current_id() for _ in range(5000)}
    finally:
        done.set()
        writer.join()
    assert seen == {"loop123456"}
