"""A real loop SIGKILLed where a resumed node used to repeat itself, then resumed in a new process.

The whole matrix (every node at start, middle and end, and inside two database writes) runs
with `make faults`; these two points are the ones that found bugs (a decision applied again
counted no images; events were logged twice).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import inconsistencies, run_case

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.mark.parametrize("point", ["record_decision:end", "gate_candidate:end"])
def test_a_kill_then_resume_leaves_one_consistent_story(
    trained_workspace: Path, tmp_path: Path, point: str
) -> None:
    from agent.bootstrap import build_deps
    from agent.control.runner import LoopDriver
    from agent.settings import Settings

    result = run_case(trained_workspace, tmp_path, point, cycles=1)
    assert result.died.startswith(point), result
    assert result.resume_code == 0, result
    assert result.problems == [], result.problems
    # The checker itself can fail: the same story told twice is seen.
    deps = build_deps(Settings.load(result.workspace))
    loop_id = LoopDriver(deps).current_id()
    assert loop_id is not None
    deps.registry.log("gate", loop_id, 1, "gate_candidate", promote=True)
    assert "event gate written 2 times in cycle 1" in inconsistencies(result.workspace, 1)
