"""Property-based requests from the served OpenAPI schema, with and without credentials: no request
may cause a server error, and every route refuses a caller who has no business there."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from agent.entry.api import StreamLimits
from tests.service.conftest import REVIEWERS, TOKEN, LiveApi, serve_api

# Eight cases per route and credential: the suite stays under a minute on 2 cores.
EXAMPLES = 8
# Streams end after a quiet half second, so a fuzzed stream holds nobody up.
QUICK_STREAMS = StreamLimits(max_open=8, idle_seconds=0.5)


def fuzz(
    api: LiveApi,
    headers: dict[str, Any],
    expect: Callable[[int], bool],
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> tuple[Counter[int], int]:
    """Every operation of the served schema, EXAMPLES cases each (valid ones, or with `mode`
    NEGATIVE ones the schema forbids), sent with `headers`; each answer's status must satisfy
    `expect`. Returns the statuses seen and the number of routes fuzzed."""
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    statuses: Counter[int] = Counter()
    routes = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers, timeout=30)
            statuses[response.status_code] += 1
            assert expect(response.status_code), (case.method, case.formatted_path, response.text)
            case.validate_response(response, checks=[not_a_server_error])

        run()
        routes += 1
    api.wait_idle()
    return statuses, routes


def report(label: str, statuses: Counter[int], routes: int) -> None:
    cases = sum(statuses.values())
    errors = sum(n for code, n in statuses.items() if code >= 500)
    print(f"{label}: {cases} cases over {routes} routes, {errors} x 5xx, statuses {dict(statuses)}")


def test_with_the_token_no_request_causes_a_server_error(tmp_path: Path) -> None:
    with serve_api(tmp_path, TOKEN, REVIEWERS, QUICK_STREAMS) as api:
        runs = [
            ("api", TOKEN, GenerationMode.POSITIVE),
            ("api", TOKEN, GenerationMode.NEGATIVE),  # bodies, paths and queries the schema forbids
            ("reviewer", REVIEWERS["alice"], GenerationMode.POSITIVE),
        ]
        for name, token, mode in runs:
            headers = {"Authorization": f"Bearer {token}"}
            statuses, routes = fuzz(api, headers, lambda c: c < 500, mode)
            report(f"token ({name}), {mode.value} cases", statuses, routes)
            assert routes == 12 and not any(code >= 500 for code in statuses)


def test_without_a_valid_token_every_route_refuses(tmp_path: Path) -> None:
    credentials = {
        "none": {},
        "wrong": {"Authorization": f"Bearer {TOKEN}-not"},
        # Latin-1 on the wire: the bytes a non-ASCII token arrives as (a 500 before).
        "non-ASCII": {"Authorization": "Bearer s3cret-tökén".encode("latin-1")},
        "wrong scheme": {"Authorization": f"Basic {TOKEN}"},
    }
    with serve_api(tmp_path, TOKEN, REVIEWERS, QUICK_STREAMS) as api:
        for name, headers in credentials.items():
            statuses, routes = fuzz(api, headers, lambda c: c == 401)
            report(f"{name} token", statuses, routes)
            assert routes == 12 and set(statuses) == {401}
        assert api.deps.registry.events() == [] and api.fake.calls == Counter()


def test_in_loopback_mode_other_sites_are_refused_everywhere(tmp_path: Path) -> None:
    with serve_api(tmp_path, None, streams=QUICK_STREAMS) as api:
        port = api.url.rsplit(":", 1)[1]
        statuses, routes = fuzz(api, {}, lambda c: c < 500)
        report("loopback, own host", statuses, routes)
        assert routes == 12
        hostile = {
            "Host": {"Host": "evil.example"},
            "rebound Host": {"Host": f"attacker.example:{port}"},
            "Origin": {"Origin": "http://evil.example"},
        }
        for name, headers in hostile.items():
            statuses, routes = fuzz(api, headers, lambda c: c == 403)
            report(f"loopback, hostile {name}", statuses, routes)
            assert set(statuses) == {403}
