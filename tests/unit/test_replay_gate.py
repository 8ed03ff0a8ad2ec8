"""The gate replay's grading: better on test, false holds and false promotions per rule."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.replay_gate import better_on_test, summary, summary_lines


@pytest.mark.parametrize(
    ("worst2", "map50", "better"),
    [(0.01, 0.0, True), (0.01, -0.01, True), (0.01, -0.011, False), (0.0, 0.02, False)],
    ids=["up", "map50-at-limit", "map50-beyond", "worst-two-flat"],
)
def test_better_means_worst_two_up_and_map50_at_most_0_01_down(
    worst2: float, map50: float, better: bool
) -> None:
    assert better_on_test(worst2, map50) is better


def test_a_candidate_without_test_figures_is_not_graded() -> None:
    assert better_on_test(None, 0.05) is None


def _row(today: bool, evidence: bool, better: bool | None) -> dict[str, Any]:
    return {"today": today, "bound": False, "evidence": evidence, "better": better}


def test_false_holds_and_false_promotions_are_counted_side_by_side() -> None:
    rows = [
        _row(today=False, evidence=True, better=True),  # held back by today's gate only
        _row(today=False, evidence=False, better=True),  # held back by both
        _row(today=True, evidence=True, better=True),
        _row(today=True, evidence=False, better=False),  # promoted by today's, not better
        _row(today=True, evidence=True, better=None),  # no test figure: not graded
    ]
    today, evidence = summary(rows, "today"), summary(rows, "evidence")
    assert (today["graded"], today["better"]) == (4, 3)
    assert (today["false_holds"], today["false_promotions"]) == (2, 1)
    assert today["false_hold_share"] == pytest.approx(2 / 3)
    assert (evidence["false_holds"], evidence["false_promotions"]) == (1, 0)
    lines = summary_lines(rows)
    assert "| today | 4 | 3 | 2 | 2 (67% of the better) | 1 |" in lines
    assert "| evidence | 4 | 3 | 2 | 1 (33% of the better) | 0 |" in lines
