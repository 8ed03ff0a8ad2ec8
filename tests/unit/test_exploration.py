"""Exploration as a policy: its share of a batch follows the evidence, and its images go to the
conditions val barely measures."""

from __future__ import annotations

import numpy as np
import pytest

from agent.steps.exploration import ConditionEvidence, condition_evidence, plan_exploration
from evaluation.slices import FailureSlice
from tools.vocabulary import CONDITIONS

# Val objects per condition value and how many the incumbent missed (of 525): night is seen
# on 12 objects, half of them missed; every other value is well measured at about the overall
# miss rate.
SEEN = {
    "lighting": {"day": 430, "dusk": 83, "night": 12},
    "weather": {"clear": 350, "rain": 60, "fog": 70, "snow": 45},
    "distance": {"near": 180, "mid": 230, "far": 115},
    "crowding": {"sparse": 380, "dense": 145},
}
MISSED = {
    "lighting": {"day": 105, "dusk": 20, "night": 6},
    "weather": {"clear": 85, "rain": 15, "fog": 18, "snow": 13},
    "distance": {"near": 25, "mid": 50, "far": 56},
    "crowding": {"sparse": 85, "dense": 46},
}
EVIDENCE = ConditionEvidence(SEEN, MISSED)
AIMED = {"distance": {"far"}, "crowding": {"dense"}}


def _slice(name: str, support: int, recall: float, deficit: float) -> FailureSlice:
    return FailureSlice(
        name=name, conditions={}, support=support, recall=recall, deficit=deficit, score=deficit
    )


SLICES = [_slice("far", 115, 0.51, 0.24), _slice("dense", 145, 0.68, 0.07)]


def _share(verdicts: list[str], **bounds: float) -> float:
    outcomes = [{"cycle": 1, "slice": "far", "verdict": v} for v in verdicts]
    return plan_exploration(outcomes, SLICES, EVIDENCE, CONDITIONS, AIMED, 150, 0, **bounds).share


def test_the_share_shrinks_as_outcomes_confirm_the_hypotheses_and_grows_as_they_refute() -> None:
    unbounded = {"share_min": 0.0, "share_max": 1.0}
    before = _share([], **unbounded)
    once = _share(["confirmed"] * 2, **unbounded)
    twice = _share(["confirmed"] * 4, **unbounded)
    often = _share(["confirmed"] * 10, **unbounded)
    assert before > once > twice > often
    assert often < before / 2
    assert _share(["refuted"] * 2, **unbounded) > before
    # Unclear verdicts say little: the share stays between what confirmation and refutation make.
    assert once < _share(["unclear"] * 2, **unbounded) < _share(["refuted"] * 2, **unbounded)
    # The bounds hold: never less than share_min, never more than share_max.
    assert _share(["confirmed"] * 40, share_min=0.2) == pytest.approx(0.2)
    assert _share(["refuted"] * 40) == pytest.approx(0.4)  # the default share_max


def test_exploration_images_go_to_what_val_barely_measures_and_never_to_aimed_values() -> None:
    plan = plan_exploration([], SLICES, EVIDENCE, CONDITIONS, AIMED, 150, 0)
    assert len(plan.draws) == round(plan.share * 150) > 0
    for draw in plan.draws:
        assert set(draw) == set(CONDITIONS)
        assert all(draw[name] in values for name, values in CONDITIONS.items())
    assert not any(key in plan.explored for key in ("distance=far", "crowding=dense"))
    # Night (12 objects, half missed) takes most images; day (430 objects, an ordinary miss
    # rate) almost none.
    assert max(plan.explored, key=lambda k: plan.explored[k]) == "lighting=night"
    assert plan.explored.get("lighting=day", 0) <= 2
    # The same seed plans the same exploration.
    again = plan_exploration([], SLICES, EVIDENCE, CONDITIONS, AIMED, 150, 0)
    assert again.draws == plan.draws


def test_deployment_prevalence_turns_exploration_towards_what_deployment_shows() -> None:
    common_there = {"weather": {"snow": 8.0}}
    plan = plan_exploration(
        [], SLICES, EVIDENCE, CONDITIONS, AIMED, 150, 0, prevalence=common_there
    )
    assert max(plan.explored, key=lambda k: plan.explored[k]) == "weather=snow"


def test_evidence_is_tallied_per_condition_value_in_any_vocabulary() -> None:
    # An imported workspace's vocabulary: measured attribute bins, no world.
    vocabulary = {"brightness": ("lowest", "mid", "highest")}
    conditions = {"a": {"brightness": "lowest"}, "b": {"brightness": "mid"}}
    evidence = condition_evidence(
        ["a", "a", "b"], np.array([False, True, True]), conditions, vocabulary
    )
    assert evidence.seen == {"brightness": {"lowest": 2, "mid": 1, "highest": 0}}
    assert evidence.missed == {"brightness": {"lowest": 1, "mid": 0, "highest": 0}}
    plan = plan_exploration([], [], evidence, vocabulary, {}, 20, 0, share_max=0.5)
    assert plan.share == 0.5  # nothing aimed yet: all that is left is exploring
    assert set(plan.explored) <= {"brightness=lowest", "brightness=mid", "brightness=highest"}


def test_nothing_to_explore_when_every_value_is_aimed_at() -> None:
    everything = {name: set(values) for name, values in CONDITIONS.items()}
    plan = plan_exploration([], SLICES, EVIDENCE, CONDITIONS, everything, 150, 0)
    assert plan.share == 0.0 and plan.draws == []
