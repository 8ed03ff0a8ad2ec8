"""The promotion gate on handcrafted scorecards: gain, mAP drop, guarded slices, unmeasured targets."""

from __future__ import annotations

import pytest

from evaluation.gate import ModelScorecard, gate

NIGHT, FOG = "lighting=night", "weather=fog"
# Limits in powers of two, so that "at the limit" is exact in floating point.
LIMITS = {"min_gain": 0.25, "max_map_drop": 0.125, "max_slice_drop": 0.125}


def _card(map50: float = 0.5, **recall: float) -> ModelScorecard:
    names = {"night": NIGHT, "fog": FOG}
    return ModelScorecard(map50=map50, slice_recall={names[k]: v for k, v in recall.items()})


@pytest.mark.parametrize(
    ("after", "promote"),
    [(0.625, False), (0.75, True), (0.875, True)],
    ids=["just-below-min-gain", "at-min-gain", "above-min-gain"],
)
def test_the_target_objective_must_rise_by_min_gain(after: float, promote: bool) -> None:
    result = gate(_card(night=0.5), _card(night=after), [NIGHT], **LIMITS)
    assert result.promote is promote
    assert (result.objective_before, result.objective_after) == (0.5, after)
    if promote:
        assert result.reasons == [f"objective 0.500 -> {after:.3f}, mAP50 0.500 -> 0.500"]
    else:
        assert result.reasons == ["objective rose +0.125, less than 0.250"]


def test_the_objective_is_the_mean_recall_of_the_targets() -> None:
    result = gate(_card(night=0.25, fog=0.5), _card(night=0.5, fog=0.75), [NIGHT, FOG], **LIMITS)
    assert (result.objective_before, result.objective_after) == (0.375, 0.625)
    assert result.promote


@pytest.mark.parametrize(
    ("candidate_map50", "promote"), [(0.375, True), (0.25, False)], ids=["at-limit", "beyond"]
)
def test_overall_map50_may_not_drop_beyond_its_limit(candidate_map50: float, promote: bool) -> None:
    result = gate(_card(night=0.25), _card(candidate_map50, night=0.75), [NIGHT], **LIMITS)
    assert result.promote is promote
    assert (result.map50_before, result.map50_after) == (0.5, candidate_map50)
    if not promote:
        assert result.reasons == ["mAP50 fell 0.250, more than 0.125"]


@pytest.mark.parametrize(
    ("fog_after", "promote"), [(0.625, True), (0.5, False)], ids=["at-limit", "beyond"]
)
def test_a_guarded_slice_may_not_drop_beyond_its_limit(fog_after: float, promote: bool) -> None:
    result = gate(
        _card(night=0.25, fog=0.75),
        _card(night=0.75, fog=fog_after),
        [NIGHT],
        guarded={FOG: 0.75},
        **LIMITS,
    )
    assert result.promote is promote
    if not promote:
        assert result.reasons == [f"recall of {FOG} fell 0.250, more than 0.125"]


def test_without_a_guard_list_every_slice_of_the_incumbent_is_guarded() -> None:
    result = gate(_card(night=0.25, fog=0.75), _card(night=0.75, fog=0.5), [NIGHT], **LIMITS)
    assert not result.promote
    assert result.reasons == [f"recall of {FOG} fell 0.250, more than 0.125"]


def test_every_failing_rule_is_a_reason() -> None:
    result = gate(_card(night=0.5, fog=0.75), _card(0.25, night=0.5, fog=0.5), [NIGHT], **LIMITS)
    assert not result.promote
    assert result.reasons == [
        "objective rose +0.000, less than 0.250",
        "mAP50 fell 0.250, more than 0.125",
        f"recall of {FOG} fell 0.250, more than 0.125",
    ]


UNMEASURED = f"target slices not measured on val: {NIGHT}"


@pytest.mark.parametrize(
    ("incumbent", "candidate", "targets", "reason"),
    [
        (_card(fog=0.5), _card(fog=0.5), [NIGHT], UNMEASURED),  # on neither model
        (_card(night=0.5), _card(fog=0.5), [NIGHT], UNMEASURED),  # on the incumbent only
        (_card(fog=0.5), _card(night=0.9, fog=0.5), [NIGHT], UNMEASURED),  # candidate only
        (
            _card(night=0.5),
            _card(night=0.9),
            [NIGHT, FOG],
            f"target slices not measured on val: {FOG}",
        ),
        (_card(night=0.5), _card(night=0.9), [], "no target slice to measure the candidate on"),
    ],
    ids=["neither", "incumbent-only", "candidate-only", "one-of-two", "no-targets"],
)
def test_no_promotion_when_a_target_was_not_measured(
    incumbent: ModelScorecard, candidate: ModelScorecard, targets: list[str], reason: str
) -> None:
    # With no minimum gain and no limits, an unmeasured objective must still not pass.
    result = gate(incumbent, candidate, targets, 0.0, 1.0, 1.0)
    assert not result.promote
    assert result.reasons == [reason]


def _found(name: str, flags: list[bool], map50: float = 0.5) -> ModelScorecard:
    return ModelScorecard(
        map50=map50,
        slice_recall={name: sum(flags) / len(flags)},
        slice_found={name: flags},
    )


def test_a_confident_gain_promotes_and_a_noisy_one_does_not() -> None:
    # 40 night objects: the candidate finds 12 more and loses none -> a clear, paired gain.
    before = [True] * 16 + [False] * 24
    clear = [True] * 28 + [False] * 12
    result = gate(_found(NIGHT, before), _found(NIGHT, clear), [NIGHT], **LIMITS, confidence=0.9)
    assert result.promote, result.reasons
    # The same +0.05 recall as trading 6 found objects for 8 others is noise, not a gain.
    swapped = [False] * 6 + [True] * 10 + [True] * 8 + [False] * 16
    noisy = gate(_found(NIGHT, before), _found(NIGHT, swapped), [NIGHT], **LIMITS, confidence=0.9)
    assert not noisy.promote and "confidence" in noisy.reasons[0]
    # Without a confidence level, the fixed min_gain (0.25) decides: +0.3 promotes.
    assert gate(_found(NIGHT, before), _found(NIGHT, clear), [NIGHT], **LIMITS).promote


def test_a_guarded_slice_blocks_only_on_a_drop_beyond_noise() -> None:
    target_before, target_after = [False] * 20, [True] * 20  # a certain gain on the target
    # 8 fog objects: 3 lost and 1 gained, -0.25, is within noise on so few objects.
    fog_before = [True, True, True, False, True, True, True, False]
    fog_small_drop = [False, False, False, True, True, True, True, False]
    cards = []
    for target, fog in ((target_before, fog_before), (target_after, fog_small_drop)):
        cards.append(
            ModelScorecard(
                map50=0.5,
                slice_recall={NIGHT: sum(target) / 20, FOG: sum(fog) / 8},
                slice_found={NIGHT: target, FOG: fog},
            )
        )
    guarded = {FOG: cards[0].slice_recall[FOG]}
    assert not gate(*cards, [NIGHT], **LIMITS, guarded=guarded).promote  # fixed margin: blocked
    assert gate(*cards, [NIGHT], **LIMITS, guarded=guarded, confidence=0.9).promote
    # Half of 60 fog objects lost: a drop beyond noise blocks even with confidence.
    big_before, big_after = [True] * 60, [False] * 30 + [True] * 30
    cards[0].slice_recall[FOG], cards[1].slice_recall[FOG] = 1.0, 0.5
    cards[0].slice_found[FOG], cards[1].slice_found[FOG] = big_before, big_after
    blocked = gate(*cards, [NIGHT], **LIMITS, guarded={FOG: 1.0}, confidence=0.9)
    assert not blocked.promote and "lower bound" in blocked.reasons[0]


def test_each_target_gets_an_outcome_confirmed_refuted_or_unclear() -> None:
    fog_before = [True] * 20 + [False] * 20
    cards = [
        ModelScorecard(
            map50=0.5,
            slice_recall={NIGHT: 0.25, FOG: 0.5},
            slice_found={NIGHT: [True] * 10 + [False] * 30, FOG: fog_before},
        ),
        ModelScorecard(
            map50=0.5,
            slice_recall={NIGHT: 0.75, FOG: 0.5},
            # Night: 20 more found, none lost. Fog: 3 lost, 3 gained: the same recall.
            slice_found={
                NIGHT: [True] * 30 + [False] * 10,
                FOG: [False] * 3 + [True] * 17 + [True] * 3 + [False] * 17,
            },
        ),
    ]
    outcomes = gate(*cards, [NIGHT, FOG], **LIMITS).outcomes
    assert outcomes[NIGHT].verdict == "confirmed" and outcomes[NIGHT].low > 0
    assert outcomes[FOG].verdict == "unclear" and outcomes[FOG].low < 0 < outcomes[FOG].high
    lost = cards[1].model_copy(
        update={"slice_recall": {NIGHT: 0.0, FOG: 0.5}, "slice_found": {NIGHT: [False] * 40}}
    )
    assert gate(cards[0], lost, [NIGHT], **LIMITS).outcomes[NIGHT].verdict == "refuted"
