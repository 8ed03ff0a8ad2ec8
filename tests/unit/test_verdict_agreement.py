"""The agreement script sets apart hypotheses no edit could check (a class alone is blamed), and
grades a targeted hypothesis by its slice's gain over the uniform arm's (a plan counterfactual)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from evaluation.counterfactual import (
    CounterfactualResult,
    EditArm,
    FactorCheck,
    HypothesisCheck,
    unchecked,
    wilson,
)
from evaluation.gate import ModelScorecard
from scripts.verdict_agreement import (
    PLAN_AGREES,
    PLAN_OUTCOMES,
    _checkable,
    agreement,
    plan_difference,
    plan_outcome,
)


def test_a_hypothesis_whose_factors_were_never_edited_is_not_checkable(tmp_path: Path) -> None:
    edited = FactorCheck(
        slice_name="box_size=lowest",
        attribute="box_size",
        blamed="distance=far",
        edit=EditArm(attribute="box_size", how="enlarged", strength=0.5, recovered=wilson(8, 12)),
        verdict="supported",
        reason="8/12 found",
    )
    blames_a_class = unchecked("class=sign", "", "", "the hypothesis blames no attribute")
    result = CounterfactualResult(
        loop_id="loop1",
        cycle=1,
        incumbent="v1",
        checks=[
            HypothesisCheck(slice_name="box_size=lowest", factors=[edited]),
            HypothesisCheck(slice_name="class=sign", factors=[blames_a_class]),
        ],
    )
    path = tmp_path / "result.json"
    path.write_text(result.model_dump_json())
    assert _checkable(path) == {"box_size=lowest": True, "class=sign": False}
    assert _checkable(tmp_path / "missing.json") == {}


def _card(found: list[bool]) -> ModelScorecard:
    """A scorecard of one slice, `fog`, whose objects are `found` (the same objects per card)."""
    return ModelScorecard(
        map50=0.0, slice_recall={"fog": sum(found) / len(found)}, slice_found={"fog": found}
    )


def _graded(aimed: list[bool], uniform: list[bool]) -> str:
    difference = plan_difference(_card(aimed), _card(uniform), ["fog"])["fog"]
    return plan_outcome(difference.low, difference.high)


def test_a_slice_the_aimed_arm_gained_clearly_more_on_is_aimed_helped() -> None:
    # 200 objects: the uniform model finds the first 80, the aimed one those and 60 more.
    uniform = [i < 80 for i in range(200)]
    aimed = [i < 140 for i in range(200)]
    assert _graded(aimed, uniform) == "aimed helped"
    assert _graded(uniform, aimed) == "aimed did not help"


def test_equal_gains_are_not_aimed_helped() -> None:
    same = [i % 2 == 0 for i in range(200)]
    assert _graded(same, same) != "aimed helped"
    # The same recall from different objects: the paired interval straddles 0.
    shifted = [i % 2 == 1 for i in range(200)]
    assert _graded(same, shifted) != "aimed helped"
    # Tight around 0 counts as "did not help"; only below 0 would leave it unclear.
    assert plan_outcome(-0.02, 0.03) == "aimed did not help"
    assert plan_outcome(-0.02, 0.03, no_help=0.0) == "unclear"
    assert plan_outcome(None, None) == "unclear"


def test_agreement_counts_supported_with_helped_and_not_supported_with_did_not_help() -> None:
    table = Counter(
        {
            ("supported", "aimed helped"): 3,
            ("supported", "aimed did not help"): 1,
            ("not supported", "aimed did not help"): 2,
            ("not supported", "unclear"): 4,
            ("undecided", "aimed helped"): 5,
            ("not checkable", "aimed helped"): 6,
        }
    )
    counts = agreement(table, PLAN_OUTCOMES[:-1], PLAN_AGREES)
    assert counts == {"checked": 15, "decided": 11, "agree": 5, "both": 6, "apart": 6}
