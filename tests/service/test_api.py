"""The HTTP API against a live server: auth, 401/404/409/422, decisions, SSE and concurrent load."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from agent.entry.api import check_bind
from tests.service.conftest import LiveApi


def test_reads_need_no_token_and_writes_do(live_api: LiveApi) -> None:
    with live_api.client(token=None) as anonymous:
        assert anonymous.get("/status").status_code == 200
        assert anonymous.post("/loops", json={"cycles": 1}).status_code == 401
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


def test_approve_resumes_the_loop_and_a_second_decision_is_refused(live_api: LiveApi) -> None:
    with live_api.client() as client:
        assert client.post("/loops", json={"cycles": 1}).status_code == 202
        batch_id = live_api.wait_for_batch()
        assert client.post("/batches/nope/approve", json={}).status_code == 404
        response = client.post(f"/batches/{batch_id}/approve", json={"by": "alice"})
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
        with live_api.client(token=None) as client:
            return client.get("/status").status_code

    def approve(i: int) -> int:
        with live_api.client() as client:
            return client.post(f"/batches/{batch_id}/approve", json={"by": f"r{i}"}).status_code

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


def test_pause_stops_between_steps_and_resume_finishes(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from agent import steps as ops

    slow_plan = ops.plan

    def plan(deps, state):
        time.sleep(0.5)
        return slow_plan(deps, state)

    monkeypatch.setattr(ops, "plan", plan)
    with live_api.client() as client:
        client.post("/loops", json={"cycles": 1, "auto_approve": True})
        time.sleep(0.2)
        assert client.post("/loops/current/pause").json() == {"pausing": True}
        live_api.wait_idle()
        assert not client.get("/status").json()["loop"]["finished"]
        assert client.post("/loops/current/resume").status_code == 202
        live_api.wait_idle()
        assert client.get("/status").json()["loop"]["finished"]
    assert live_api.fake.calls["plan"] == 1 and live_api.fake.calls["retrain"] == 1


@pytest.mark.parametrize(
    ("host", "token", "ok"),
    [("127.0.0.1", None, True), ("0.0.0.0", None, False), ("0.0.0.0", "t", True)],
)
def test_no_token_no_listening_beyond_loopback(host: str, token: str | None, ok: bool) -> None:
    if ok:
        check_bind(host, token)
    else:
        with pytest.raises(ValueError, match="without FAILFORGE_API_TOKEN"):
            check_bind(host, token)


def test_openapi_schema_is_served(live_api: LiveApi) -> None:
    schema = httpx.get(f"{live_api.url}/openapi.json").json()
    assert {"/status", "/batches/{batch_id}/approve", "/events/stream"} <= set(schema["paths"])


def test_stop_ends_a_waiting_loop_so_a_new_one_can_start(live_api: LiveApi) -> None:
    with live_api.client() as client:
        client.post("/loops", json={"cycles": 2})
        batch_id = live_api.wait_for_batch()
        assert client.post("/loops", json={"cycles": 1}).status_code == 409
        stopped = client.post("/loops/current/stop", json={"by": "dave"}).json()
        assert stopped == {"stopped": True, "stop_reason": "stopped by dave"}
        assert client.get("/status").json()["loop"]["finished"]
        assert client.post(f"/batches/{batch_id}/approve", json={}).status_code == 409
        assert client.post("/loops", json={"cycles": 1, "auto_approve": True}).status_code == 202
    live_api.wait_idle()
    assert live_api.fake.calls["retrain"] == 1
