"""Tools a test needs from outside the venv's code: missing here, the test skips; under CI=true
(set by .ci/run, which installs every one of them) the same skip is a failure.

A skip is a "missing tool" skip when its reason starts with MISSING; the pytest plugin below
(loaded by tests/conftest.py) turns those into failures in CI and leaves every other skip alone.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, NoReturn

import pytest

MISSING = "missing tool: "


def require_tool(found: object, what: str, how: str) -> pytest.MarkDecorator:
    """Skip the marked tests unless `found` (a path, a flag), saying what is missing and how to
    install it."""
    return pytest.mark.skipif(not found, reason=f"{MISSING}{what} ({how})")


def skip_missing(what: str, how: str) -> NoReturn:
    """Skip the running test (from a fixture) for a missing tool."""
    pytest.skip(f"{MISSING}{what} ({how})")


def require_module(name: str, how: str) -> ModuleType:
    """The module, or a missing-tool skip of the running test (call it inside a test or a
    fixture: a module skipped at import would stop a CI run at collection)."""
    return pytest.importorskip(name, reason=f"{MISSING}{name} is not importable ({how})")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return str(text).removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and in_ci() and _skip_reason(report).startswith(MISSING):
        report.outcome = "failed"
        report.longrepr = (
            f"{_skip_reason(report)}: CI runs every test the README promises, and .ci/run "
            "installs this tool; a missing one fails instead of skipping (CI=true)."
        )
