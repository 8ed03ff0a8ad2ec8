"""The gate's objective (`gate.objective`): the cycle's targets, or the worst val slices of both
models, judged by either rule on handcrafted scorecards through the gate as the loop calls it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.settings.thresholds import GateSettings
from agent.steps.judging import CandidateJudge
from evaluation.gate import GateResult, ModelScorecard, evidence_gate, gate
from evaluation.noninferior import noninferior_gate
from evaluation.objective import worst_slices

TARGET = "lighting=night & size=small"  # what the cycle aimed at: not a single slice
LOW, PLATELETS, DAY, LARGE = "contrast=low", "class=Platelets", "lighting=day", "size=large"
SINGLES = [LOW, PLATELETS, DAY, LARGE]
# The incumbent's objects found per slice, of 40 each: worst on low contrast, then platelets.
FOUND = {TARGET: 12, LOW: 12, PLATELETS: 16, DAY: 32, LARGE: 36}
N = 40


def _flags(found: int, gained: int = 0, lost: int = 0) -> list[bool]:
    """A slice's 40 objects in a fixed order: the incumbent finds the first `found`; a
    candidate loses the first `lost` of those and finds `gained` of the ones after them."""
    return [False] * lost + [True] * (found - lost + gained) + [False] * (N - found - gained)


def _card(changes: dict[str, tuple[int, int]] | None = None) -> ModelScorecard:
    """The incumbent's scorecard, or a candidate's: `changes` maps a slice to (gained, lost)."""
    found = {
        name: _flags(count, *(changes or {}).get(name, (0, 0))) for name, count in FOUND.items()
    }
    recall = {name: sum(flags) / N for name, flags in found.items()}
    return ModelScorecard(map50=0.8, slice_recall=recall, slice_found=found)


INCUMBENT = _card()
# Better where the detector is worst (low contrast 0.3 -> 0.6, platelets 0.4 -> 0.6), flat on
# the target.
BETTER_WHERE_WORST = _card({LOW: (12, 0), PLATELETS: (8, 0)})
# Better on the target (0.3 -> 0.7) while the worst slice falls a little (0.3 -> 0.275: within
# every slice limit, so only the objective can see it).
BETTER_ON_TARGET = _card({TARGET: (16, 0), LOW: (0, 1)})


def _judge(objective: str, rule: str, **gate: float) -> CandidateJudge:
    settings = GateSettings.model_validate({"objective": objective, "rule": rule, **gate})
    return CandidateJudge(settings, 20, INCUMBENT, [TARGET], SINGLES)


@pytest.mark.parametrize("rule", ["margin", "evidence"])
def test_with_the_targets_objective_the_judge_is_todays_gate(rule: str) -> None:
    for candidate in (BETTER_WHERE_WORST, BETTER_ON_TARGET):
        if rule == "margin":
            guards = {k: v for k, v in INCUMBENT.slice_recall.items() if k in SINGLES}
            today = gate(INCUMBENT, candidate, [TARGET], 0.01, 0.02, 0.05, guards, None, {})
        else:
            today = evidence_gate(INCUMBENT, candidate, [TARGET], 0.02, 0.05, SINGLES, {}, 0.9)
        assert _judge("targets", rule)(candidate) == today
    # Pinned: the default objective is the targets, and its line names no other slices
    # (16 of 40 more found, none lost: +0.4, standard error 0.0784, 90% interval +-0.129).
    default = CandidateJudge(GateSettings(), 20, INCUMBENT, [TARGET], SINGLES)
    assert default(BETTER_ON_TARGET).evidence == (
        "objective 0.300 -> 0.700 [+0.271, +0.529], mAP50 0.800 -> 0.800"
    )


@pytest.mark.parametrize("rule", ["margin", "evidence"])
def test_a_candidate_better_where_the_detector_is_worst_is_promoted_on_worst(rule: str) -> None:
    held = _judge("targets", rule)(BETTER_WHERE_WORST)
    assert not held.promote and not held.carried  # flat on the targets: no gain
    promoted = _judge("worst", rule)(BETTER_WHERE_WORST)
    assert promoted.promote, promoted.reasons
    # Both models judged on the incumbent's two worst (the candidate's are the same two).
    assert (promoted.objective_before, promoted.objective_after) == pytest.approx((0.35, 0.6))
    assert promoted.evidence.startswith("objective 0.350 -> 0.600")
    assert promoted.evidence.endswith("; objective: worst val slices contrast=low, class=Platelets")
    # The hypotheses tested are still the cycle's targets.
    assert list(promoted.outcomes) == [TARGET]
    assert promoted.outcomes[TARGET].verdict == "unclear"


@pytest.mark.parametrize("rule", ["margin", "evidence"])
def test_a_candidate_better_on_its_targets_while_a_worst_slice_falls_is_held(rule: str) -> None:
    assert _judge("targets", rule)(BETTER_ON_TARGET).promote
    held = _judge("worst", rule)(BETTER_ON_TARGET)
    assert not held.promote and not held.carried
    assert (held.objective_before, held.objective_after) == pytest.approx((0.35, 0.3375))
    assert "objective: worst val slices contrast=low, class=Platelets" in held.evidence
    # Its target's hypothesis is confirmed all the same: the plan reads what the aim did.
    assert held.outcomes[TARGET].verdict == "confirmed"


def test_the_noninferior_rule_judges_either_objective_on_harm_alone() -> None:
    for candidate in (BETTER_WHERE_WORST, BETTER_ON_TARGET):
        today = noninferior_gate(INCUMBENT, candidate, [TARGET], 0.02, 0.05, SINGLES, {}, 0.9)
        assert _judge("targets", "noninferior")(candidate) == today
    # Flat on the targets: held by the other rules, promoted here (no harm shown).
    assert _judge("targets", "noninferior")(BETTER_WHERE_WORST).promote
    # The worst slices' small fall (0.35 -> 0.3375) is within noise: no evidence of harm.
    worst = _judge("worst", "noninferior")(BETTER_ON_TARGET)
    assert worst.promote and worst.evidence.startswith("no evidence of harm: objective 0.350")
    assert worst.evidence.endswith("; objective: worst val slices contrast=low, class=Platelets")


def test_the_slices_include_the_candidates_own_worst() -> None:
    # Better on the incumbent's worst two, but daylight, fine before (0.8), falls to 0.3: the
    # candidate's worst. With a loose slice limit, only the objective can catch it.
    hides = _card({LOW: (8, 0), PLATELETS: (4, 0), DAY: (0, 20)})
    slices = worst_slices(INCUMBENT, hides, SINGLES, 2, 20)
    assert slices == [LOW, PLATELETS, DAY]  # the incumbent's two, then the candidate's new one
    loose = {"max_slice_drop": 1.0}
    # Judged on the incumbent's worst alone, it would pass: 0.35 -> 0.5.
    alone = evidence_gate(INCUMBENT, hides, [LOW, PLATELETS], 0.02, 1.0, SINGLES)
    assert alone.promote
    for rule in ("margin", "evidence"):
        held = _judge("worst", rule, **loose)(hides)
        assert not held.promote, rule
        assert (held.objective_before, held.objective_after) == pytest.approx((0.5, 1.3 / 3))
        assert held.evidence.endswith(
            "; objective: worst val slices contrast=low, class=Platelets, lighting=day"
        )


def test_a_slice_with_too_few_objects_is_not_among_the_worst() -> None:
    few = "weather=fog"
    incumbent = INCUMBENT.model_copy(deep=True)
    incumbent.slice_recall[few] = 0.0
    incumbent.slice_found[few] = [False] * 19  # one short of min_support 20
    candidate = BETTER_WHERE_WORST.model_copy(deep=True)
    candidate.slice_recall[few] = 0.0
    candidate.slice_found[few] = [False] * 19
    assert worst_slices(incumbent, candidate, [few, *SINGLES], 2, 20) == [LOW, PLATELETS]
    assert worst_slices(incumbent, candidate, [few, *SINGLES], 2, 19) == [few, LOW, PLATELETS]
    # A slice one model was not measured on cannot be chosen either.
    del candidate.slice_recall[few]
    assert worst_slices(incumbent, candidate, [few, *SINGLES], 2, 19) == [LOW, PLATELETS]


def test_no_slice_with_enough_objects_is_no_gain() -> None:
    judge = CandidateJudge(
        GateSettings(objective="worst"), 41, INCUMBENT, [TARGET], SINGLES
    )  # every slice has 40 objects
    result: GateResult = judge(BETTER_WHERE_WORST)
    assert not result.promote
    assert result.evidence == (
        "no target slice to measure the candidate on; "
        "objective: worst val slices, none measured with enough objects"
    )


def test_the_objective_settings() -> None:
    settings = GateSettings()
    assert (settings.objective, settings.worst_slices) == ("targets", 2)
    with pytest.raises(ValidationError):
        GateSettings.model_validate({"objective": "deployed"})
    with pytest.raises(ValidationError):
        GateSettings(worst_slices=0)
