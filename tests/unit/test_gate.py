"""The promotion gate on handcrafted scorecards: gain, mAP drop, guarded slices, unmeasured targets.

The margin rule (`gate`) first, then the evidence rule (`evidence_gate`): noise in thirty
slices, a real drop, a user's own limit, an inconclusive candidate carried to the next cycle.
"""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.gate import GateResult, ModelScorecard, evidence_gate, gate
from evaluation.noninferior import noninferior_gate
from evaluation.paired import holm

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
    if not promote:  # the evidence line: what blocked, then the gain
        assert result.reasons == ["mAP50 fell 0.250, more than 0.125; objective +0.500"]
        assert result.evidence == result.reasons[0]


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
        assert result.reasons == [f"recall of {FOG} fell 0.250, more than 0.125; objective +0.500"]


def test_without_a_guard_list_every_slice_of_the_incumbent_is_guarded() -> None:
    result = gate(_card(night=0.25, fog=0.75), _card(night=0.75, fog=0.5), [NIGHT], **LIMITS)
    assert not result.promote
    assert result.reasons == [f"recall of {FOG} fell 0.250, more than 0.125; objective +0.500"]


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
    # An objective nobody measured is absent, never a 0.0 that reads like a recall.
    assert result.objective_after == objective_of(candidate, targets)
    assert result.objective_before == objective_of(incumbent, targets)
    judged = evidence_gate(incumbent, candidate, targets, 1.0, 1.0, [])
    assert not judged.promote and not judged.carried and judged.reasons == [reason]


def objective_of(card: ModelScorecard, targets: list[str]) -> float | None:
    if not targets or any(t not in card.slice_recall for t in targets):
        return None
    return sum(card.slice_recall[t] for t in targets) / len(targets)


def test_an_unmeasured_objective_is_none() -> None:
    result = evidence_gate(_card(fog=0.5), _card(night=0.9, fog=0.5), [NIGHT], 1.0, 1.0, [])
    assert (result.objective_before, result.objective_after) == (None, 0.9)
    assert (result.gain_low, result.gain_high) == (None, None)


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


# -- the evidence rule ---------------------------------------------------------------------------
SLICES = [f"contrast=bin{i}" for i in range(30)]
# The target: 100 night objects, 20 more found and none lost (0.4 -> 0.6): a clear gain.
TARGET_BEFORE, TARGET_AFTER = [False] * 60 + [True] * 40, [True] * 20 + [False] * 40 + [True] * 40


def _noisy_cards(
    rng: np.random.Generator, lost: dict[str, int] | None = None, size: int = 50
) -> tuple[ModelScorecard, ModelScorecard]:
    """Thirty guarded slices of `size` objects, recall 0.7 on both models: the candidate
    redraws 15% of its objects (the churn of a retrained detector) and loses `lost` more."""
    before: dict[str, list[bool]] = {NIGHT: TARGET_BEFORE}
    after: dict[str, list[bool]] = {NIGHT: TARGET_AFTER}
    for name in SLICES:
        found = rng.random(size) < 0.7
        again = found.copy()
        redraw = rng.random(size) < 0.15
        again[redraw] = rng.random(int(redraw.sum())) < 0.7
        again[np.flatnonzero(again)[: (lost or {}).get(name, 0)]] = False
        before[name], after[name] = found.tolist(), again.tolist()
    return _cards(before), _cards(after)


def _cards(found: dict[str, list[bool]], map50: float = 0.8) -> ModelScorecard:
    recall = {name: sum(flags) / len(flags) for name, flags in found.items()}
    return ModelScorecard(map50=map50, slice_recall=recall, slice_found=found)


def _evidence(before: ModelScorecard, after: ModelScorecard) -> GateResult:
    return evidence_gate(before, after, [NIGHT], 0.02, 0.05, SLICES)


def test_thirty_slices_of_noise_do_not_block_a_better_candidate() -> None:
    # 1000 constructed draws (seed 0): the fixed margin holds back a candidate that is better
    # on its target in most of them, because one of thirty noisy slices falls beyond 0.05 by
    # chance; tested as a family, the slices block it in at most 2% (measured: 1%).
    rng = np.random.default_rng(0)
    draws = 1000
    evidence = margin = 0
    for _ in range(draws):
        before, after = _noisy_cards(rng)
        evidence += _evidence(before, after).promote
        guarded = {name: before.slice_recall[name] for name in SLICES}
        margin += gate(before, after, [NIGHT], 0.01, 0.02, 0.05, guarded).promote
    assert evidence / draws >= 0.98
    assert margin / draws <= 0.15


def test_a_real_large_drop_on_one_slice_still_blocks() -> None:
    # 15 of a slice's 50 objects lost (recall 0.7 -> about 0.4) among 29 slices of noise:
    # blocked in at least 95% of 400 draws (measured: 99%).
    rng = np.random.default_rng(1)
    draws, blocked = 400, 0
    for _ in range(draws):
        before, after = _noisy_cards(rng, lost={SLICES[3]: 15})
        result = _evidence(before, after)
        blocked += not result.promote and SLICES[3] in result.evidence
    assert blocked / draws >= 0.95
    # Its line: the slice, its drop with interval, Holm's adjusted p, then the gain.
    before, after = _noisy_cards(np.random.default_rng(2), lost={SLICES[3]: 15})
    line = _evidence(before, after).evidence
    assert line.startswith(f"recall of {SLICES[3]} fell 0.")
    assert ", beyond 0.050 (Holm p " in line and ", 30 slices)" in line
    assert line.endswith("; objective 0.400 -> 0.600, +0.200 [+0.134, +0.266] (90%)")


def test_a_slice_the_user_guards_blocks_at_its_own_limit() -> None:
    # One of 40 platelets lost: within noise, and within the family's limit, but the user
    # said this class may not fall at all.
    platelets = "class=Platelets"
    before = _cards({NIGHT: TARGET_BEFORE, platelets: [True] * 30 + [False] * 10})
    after = _cards({NIGHT: TARGET_AFTER, platelets: [False] + [True] * 29 + [False] * 10})
    for judge in (
        lambda limits: evidence_gate(before, after, [NIGHT], 0.02, 0.05, [platelets], limits),
        lambda limits: gate(before, after, [NIGHT], 0.01, 0.02, 0.05, None, None, limits),
    ):
        assert judge({}).promote  # as one of the family, a drop of 0.025 passes
        held = judge({platelets: 0.0})
        assert not held.promote
        assert held.evidence.startswith(f"recall of {platelets} fell 0.025")
        assert judge({platelets: 0.03}).promote  # its own limit, not the family's 0.05
    # A guarded slice val cannot measure is said, never passed over in silence.
    unseen = evidence_gate(before, after, [NIGHT], 0.02, 0.05, [], {"class=WBC": 0.0})
    assert (
        unseen.promote
        and unseen.reasons[1] == "guarded slice class=WBC: no objects on val, not judged"
    )


def test_an_inconclusive_candidate_is_carried_and_promoted_if_better_again() -> None:
    # 4 more found of 40 and 1 lost: +0.075, its interval holds 0; nothing blocks.
    before = _cards({NIGHT: [False] * 20 + [True] * 20})
    after = _cards({NIGHT: [True] * 4 + [False] * 16 + [False] + [True] * 19})
    first = evidence_gate(before, after, [NIGHT], 0.02, 0.05, [])
    assert not first.promote and first.carried
    assert (first.objective_before, first.objective_after) == (0.5, 0.575)
    assert first.gain_low is not None and first.gain_low < 0
    assert "holds 0: carried to the next cycle" in first.evidence
    # Next cycle: a candidate trained from the same incumbent on more images is inconclusive
    # too, and the carried one, judged again, is still better: promoted over two cycles.
    second = evidence_gate(before, after, [NIGHT], 0.02, 0.05, [], carried=("v2", first))
    assert second.promote and not second.carried
    assert second.evidence == (
        "objective 0.500 -> 0.575, +0.075 [-0.016, +0.166] (90%) holds 0, and v2, carried, is "
        "better again (+0.075 [-0.016, +0.166]): better over two cycles; mAP50 0.800 -> 0.800; "
        "no slice fell beyond noise (Holm, 0 slices)"
    )
    # A carried one that is no longer better does not lift the new one: it is carried instead.
    worse = evidence_gate(after, before, [NIGHT], 0.02, 0.05, [])
    third = evidence_gate(before, after, [NIGHT], 0.02, 0.05, [], carried=("v2", worse))
    assert not third.promote and third.carried


def test_a_clear_gain_promotes_and_no_gain_is_held_with_its_interval() -> None:
    clear = evidence_gate(
        _cards({NIGHT: TARGET_BEFORE}), _cards({NIGHT: TARGET_AFTER}), [NIGHT], 0.02, 0.05, []
    )
    assert clear.promote and not clear.carried
    assert clear.evidence == (
        "objective 0.400 -> 0.600, +0.200 [+0.134, +0.266] (90%); mAP50 0.800 -> 0.800; "
        "no slice fell beyond noise (Holm, 0 slices)"
    )
    none = evidence_gate(
        _cards({NIGHT: TARGET_AFTER}), _cards({NIGHT: TARGET_BEFORE}), [NIGHT], 0.02, 0.05, []
    )
    assert not none.promote and not none.carried
    assert none.evidence == "objective 0.600 -> 0.400, -0.200 [-0.266, -0.134] (90%), not above 0"


# -- the non-inferiority rule ---------------------------------------------------------------------
def _noninferior(before: ModelScorecard, after: ModelScorecard, **limits: float) -> GateResult:
    return noninferior_gate(before, after, [NIGHT], 0.02, 0.05, SLICES, limits)


def test_an_inconclusive_gain_is_promoted_where_val_shows_no_harm() -> None:
    # +0.075 on 40 objects holds 0: the evidence rule carries it, this rule promotes it.
    before = _cards({NIGHT: [False] * 20 + [True] * 20})
    after = _cards({NIGHT: [True] * 4 + [False] * 16 + [False] + [True] * 19})
    assert evidence_gate(before, after, [NIGHT], 0.02, 0.05, []).carried
    result = noninferior_gate(before, after, [NIGHT], 0.02, 0.05, [])
    assert result.promote
    assert result.evidence == (
        "no evidence of harm: objective 0.500 -> 0.575, +0.075 [-0.016, +0.166] (90%); "
        "mAP50 0.800 -> 0.800; no slice fell beyond noise (Holm, 0 slices)"
    )


def test_an_objective_that_fell_beyond_noise_holds_the_candidate() -> None:
    held = noninferior_gate(
        _cards({NIGHT: TARGET_AFTER}), _cards({NIGHT: TARGET_BEFORE}), [NIGHT], 0.02, 0.05, []
    )
    assert not held.promote and not held.carried
    assert held.evidence == (
        "objective 0.600 -> 0.400, -0.200 [-0.266, -0.134] (90%): fell beyond noise"
    )
    # A fall within noise is no evidence: 1 lost of 40 is promoted.
    before = _cards({NIGHT: [True] * 20 + [False] * 20})
    after = _cards({NIGHT: [False] + [True] * 19 + [False] * 20})
    assert noninferior_gate(before, after, [NIGHT], 0.02, 0.05, []).promote


def test_noninferiority_still_blocks_on_map50_a_real_slice_drop_and_the_users_limit() -> None:
    rng = np.random.default_rng(3)
    before, after = _noisy_cards(rng)
    assert _noninferior(before, after).promote  # thirty slices of noise: no harm shown
    worse_map = after.model_copy(update={"map50": before.map50 - 0.03})
    assert _noninferior(before, worse_map).evidence.startswith("mAP50 fell 0.030")
    before, after = _noisy_cards(rng, lost={SLICES[3]: 15})
    line = _noninferior(before, after).evidence
    assert line.startswith(f"recall of {SLICES[3]} fell 0.") and "(Holm p " in line
    assert line.endswith("; objective 0.400 -> 0.600, +0.200 [+0.134, +0.266] (90%)")
    platelets = "class=Platelets"
    before = _cards({NIGHT: TARGET_BEFORE, platelets: [True] * 30 + [False] * 10})
    after = _cards({NIGHT: TARGET_AFTER, platelets: [False] + [True] * 29 + [False] * 10})
    assert noninferior_gate(before, after, [NIGHT], 0.02, 0.05, [platelets]).promote
    held = noninferior_gate(before, after, [NIGHT], 0.02, 0.05, [], {platelets: 0.0})
    assert not held.promote and held.evidence.startswith(f"recall of {platelets} fell 0.025")


def test_without_recorded_objects_the_objective_blocks_on_its_point_fall() -> None:
    # Recall alone, no per-object flags: no interval, so a fall beyond the slice limit blocks.
    before, flat, fallen = _card(night=0.5), _card(night=0.48), _card(night=0.4)
    assert noninferior_gate(before, flat, [NIGHT], 0.02, 0.05, []).promote
    held = noninferior_gate(before, fallen, [NIGHT], 0.02, 0.05, [])
    assert not held.promote
    assert held.evidence == (
        "objective 0.500 -> 0.400, -0.100 (90%): fell more than 0.050 "
        "(no interval: objects not recorded)"
    )


def test_an_unmeasured_objective_is_said_and_does_not_block() -> None:
    before, after = _cards({FOG: [True, False]}), _cards({FOG: [True, True]})
    result = noninferior_gate(before, after, [NIGHT], 0.02, 0.05, [])
    assert result.promote and result.objective_before is None
    assert result.evidence.startswith(
        f"no evidence of harm: target slices not measured on val: {NIGHT}; mAP50"
    )


def test_holm_scales_the_kth_smallest_p_value_by_the_hypotheses_left() -> None:
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.5})
    # 4 x 0.01; 3 x 0.03; 2 x 0.04 = 0.08 < 0.09, kept monotone at 0.09; 1 x 0.5.
    assert adjusted == pytest.approx({"a": 0.04, "c": 0.09, "b": 0.09, "d": 0.5})
