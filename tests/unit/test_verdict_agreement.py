"""The agreement script sets apart hypotheses no edit could check (a class alone is blamed)."""

from __future__ import annotations

from pathlib import Path

from evaluation.counterfactual import (
    CounterfactualResult,
    EditArm,
    FactorCheck,
    HypothesisCheck,
    unchecked,
    wilson,
)
from scripts.verdict_agreement import _checkable


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
