"""The counterfactual verdict: Newcombe's paired interval against a published value, and the rule
that turns edit-against-placebo recoveries into supported, not supported or undecided."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.counterfactual import (
    EditArm,
    HypothesisCheck,
    decide,
    newcombe_paired,
    unchecked,
    wilson,
)


def paired(both: int, edit_only: int, placebo_only: int, neither: int) -> tuple[np.ndarray, ...]:
    edit = [True] * both + [True] * edit_only + [False] * placebo_only + [False] * neither
    sham = [True] * both + [False] * edit_only + [True] * placebo_only + [False] * neither
    return np.array(edit), np.array(sham)


def test_newcombe_paired_interval_matches_the_published_value() -> None:
    # Cavo et al. 2012 as tabled in Fagerland, Lydersen & Laake, "Statistical Analysis of
    # Contingency Tables" (ch. 8): Newcombe square-and-add, -0.0621 (95% CI -0.1186 to -0.0046).
    edit, sham = paired(59, 6, 16, 80)
    interval = newcombe_paired(edit, sham)
    assert interval.difference == pytest.approx(-0.0621, abs=5e-5)
    assert interval.low == pytest.approx(-0.1186, abs=5e-5)
    assert interval.high == pytest.approx(-0.0046, abs=5e-5)
    assert (interval.both, interval.edit_only, interval.placebo_only, interval.neither) == (
        59,
        6,
        16,
        80,
    )


def test_wilson_of_none_found_is_not_a_point() -> None:
    interval = wilson(0, 20)
    assert interval.rate == 0.0
    assert interval.low == 0.0
    assert interval.high == pytest.approx(0.1611, abs=1e-4)  # z^2 / (n + z^2)


def test_newcombe_refuses_unpaired_arms() -> None:
    with pytest.raises(ValueError, match="same objects"):
        newcombe_paired(np.ones(3, bool), np.ones(4, bool))


def arm(attribute: str, found: np.ndarray, lost: tuple[int, int] | None = None) -> EditArm:
    return EditArm(
        attribute=attribute,
        how="test",
        strength=10.0,
        recovered=wilson(int(found.sum()), len(found)),
        lost=wilson(*lost) if lost else None,
    )


def verdict_of(
    edit: np.ndarray, sham: np.ndarray, lost: tuple[int, int] | None = None
) -> tuple[str, str]:
    check = decide(
        "s", "brightness", "brightness=lowest", arm("brightness", edit, lost), arm("c", sham),
        edit, sham,
    )  # fmt: skip
    return check.verdict, check.reason


def test_many_recoveries_beyond_the_placebo_support_the_hypothesis() -> None:
    verdict, reason = verdict_of(*paired(2, 20, 0, 8))
    assert verdict == "supported"
    assert "22/30 misses found after the brightness edit" in reason


def test_no_recovery_over_enough_misses_does_not_support_it() -> None:
    verdict, _ = verdict_of(*paired(0, 0, 0, 30))
    assert verdict == "not supported"


def test_recoveries_the_placebo_also_makes_do_not_support_it() -> None:
    # Any change finds these misses again: the edit's 60% is the placebo's 60%.
    verdict, _ = verdict_of(*paired(24, 1, 1, 14))
    assert verdict == "not supported"


def test_too_few_misses_leave_it_undecided() -> None:
    verdict, reason = verdict_of(*paired(0, 0, 0, 6))
    assert verdict == "undecided"
    assert "too few misses" in reason


def test_an_edit_that_loses_detected_objects_decides_nothing() -> None:
    edit, sham = paired(0, 25, 0, 5)
    verdict, reason = verdict_of(edit, sham, lost=(15, 20))
    assert verdict == "undecided"
    assert "lost 15/20 detected objects" in reason


def test_a_hypothesis_is_supported_by_any_factor_and_refuted_only_by_all() -> None:
    supported = decide("s", "a", "a=low", arm("a", np.ones(30, bool)), arm("c", np.zeros(30, bool)),
                       np.ones(30, bool), np.zeros(30, bool))  # fmt: skip
    refuted = decide("s", "b", "b=low", arm("b", np.zeros(30, bool)), arm("c", np.zeros(30, bool)),
                     np.zeros(30, bool), np.zeros(30, bool))  # fmt: skip
    assert refuted.verdict == "not supported"
    assert HypothesisCheck(slice_name="s", factors=[supported, refuted]).verdict == "supported"
    assert HypothesisCheck(slice_name="s", factors=[refuted]).verdict == "not supported"
    blind = unchecked("s", "overlap", "overlap=high", "no edit")
    assert HypothesisCheck(slice_name="s", factors=[refuted, blind]).verdict == "undecided"
    dumped = HypothesisCheck(slice_name="s", factors=[refuted]).model_dump(mode="json")
    assert dumped["verdict"] == "not supported"
