"""A real loop SIGKILLed where a resumed node used to repeat itself, then resumed in a new process.

The whole matrix (every node at start, middle and end, and inside two database writes) runs
with `make faults`, and CI's share of it (each node once) with `make faults-ci`. The point here
found a bug (a decision applied again counted no images) and is not in CI's share; the other
that found one (events logged twice, `gate_candidate:end`) is, so it is not run twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import inconsistencies, run_case

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.mark.parametrize("point", ["record_decision:end"])
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


def test_the_other_point_that_found_a_bug_is_in_cis_share_of_the_matrix() -> None:
    from tests.faults.harness import ONE_PER_NODE

    assert "gate_candidate:end" in ONE_PER_NODE
