"""Where targeting lost to uniform on a world: each stage's verdict from constructed facts, and the
mapping from discovery's attribute bins to the world's conditions it judges discovery by."""

from __future__ import annotations

import pytest

from evaluation.sweep_diagnosis import (
    HIGH,
    LOW,
    SCENE_ATTRIBUTES,
    ArmFacts,
    CycleFacts,
    LoopSlice,
    WorldFacts,
    diagnose,
    markdown,
    touched,
)
from tools.generator.counterfactual_edits import SCENE_FACTORS

WORST = ["distance=far", "crowding=dense"]
FAR_SLICE = LoopSlice(name="box_size=lowest", conditions={"box_size": "lowest"})
SIGN_SLICE = LoopSlice(name="class=sign", conditions={"class": "sign"})


def _arm(
    gated: float | None,
    last: float | None,
    far: int,
    dense: int,
    slices: list[LoopSlice] | None = None,
    promoted: tuple[bool, ...] = (False, False),
) -> ArmFacts:
    """An arm of two cycles of 50 approved images each; `far` and `dense` of its 100 images carry
    the worst values (split over the cycles)."""
    cycles = [
        CycleFacts(
            cycle=k + 1,
            loop_slices=slices or [],
            approved=True,
            promoted=promoted[k],
            images=50,
            scenes={"distance=far": far // 2 + far % 2 * (1 - k), "crowding=dense": dense // 2},
        )
        for k in range(2)
    ]
    return ArmFacts(cycles=cycles, worst2=gated, candidate_worst2=last)


def _world(targeted: ArmFacts, uniform: ArmFacts) -> WorldFacts:
    return WorldFacts(
        worst_slices=WORST,
        field_share={"distance=far": 0.08, "crowding=dense": 0.2},
        arms={"targeted": targeted, "uniform": uniform},
    )


def _uniform() -> ArmFacts:
    return _arm(0.40, 0.42, far=33, dense=50, slices=[FAR_SLICE])


UNIFORM = _uniform()


def test_targeted_ahead_on_its_gated_model_lost_nothing() -> None:
    found = diagnose(_world(_arm(0.45, 0.41, far=90, dense=60, slices=[FAR_SLICE]), UNIFORM))
    assert found is not None
    assert found.lost_at is None and found.ahead["gated"] == pytest.approx(0.05)
    # Behind on its last candidate, ahead on the gated model: still ahead (the gate did its job).
    assert found.ahead["last_candidate"] == pytest.approx(-0.01)


def test_a_last_candidate_ahead_that_the_gate_did_not_keep_is_lost_at_the_gate() -> None:
    targeted = _arm(0.40, 0.47, far=0, dense=0, slices=[SIGN_SLICE], promoted=(False, False))
    found = diagnose(_world(targeted, UNIFORM))
    assert found is not None and found.lost_at == "gate"
    assert found.gate_loss["targeted"] == pytest.approx(0.07)
    assert found.promoted == {"targeted": (0, 2), "uniform": (0, 2)}


def test_no_loop_slice_pointing_at_a_worst_value_is_lost_at_discovery() -> None:
    # Aimed well by luck (far and dense), but discovery named only signs and bright images.
    bright = LoopSlice(name="brightness=high", conditions={"brightness": "high"})
    found = diagnose(
        _world(_arm(0.38, 0.39, far=90, dense=90, slices=[SIGN_SLICE, bright]), UNIFORM)
    )
    assert found is not None and found.lost_at == "discovery" and found.touched == []


def test_discovery_on_target_but_aim_no_better_than_uniform_is_lost_at_the_plan() -> None:
    targeted = _arm(0.40, 0.41, far=33, dense=40, slices=[SIGN_SLICE, FAR_SLICE])
    found = diagnose(_world(targeted, UNIFORM))
    assert found is not None and found.lost_at == "plan"
    assert found.touched == ["distance=far"]
    assert found.aim["targeted"] == {"distance=far": 0.33, "crowding=dense": 0.4}
    assert found.aim["uniform"] == {"distance=far": 0.33, "crowding=dense": 0.5}


def test_aimed_above_uniform_and_still_behind_is_lost_in_training() -> None:
    targeted = _arm(0.39, 0.41, far=80, dense=70, slices=[FAR_SLICE], promoted=(True, False))
    found = diagnose(_world(targeted, UNIFORM))
    assert found is not None and found.lost_at == "training"
    assert found.promoted["targeted"] == (1, 2)


def test_an_arm_without_approved_images_aimed_at_nothing() -> None:
    unapproved = ArmFacts(
        cycles=[CycleFacts(cycle=1, loop_slices=[FAR_SLICE])], worst2=0.40, candidate_worst2=None
    )
    found = diagnose(_world(unapproved, UNIFORM))
    assert found is not None and found.lost_at == "plan"
    assert found.aim["targeted"] == {"distance=far": None, "crowding=dense": None}


def test_a_world_missing_an_arm_or_its_measurement_is_not_diagnosed() -> None:
    assert diagnose(WorldFacts(worst_slices=WORST, arms={"targeted": UNIFORM})) is None
    unmeasured = _arm(None, None, far=10, dense=10)
    assert diagnose(_world(unmeasured, UNIFORM)) is None


def test_discovery_is_not_judged_on_values_no_bin_points_at() -> None:
    # Clear weather is the absence of haze, streaks and specks: no slice can miss it.
    facts = _world(_arm(0.38, 0.39, far=0, dense=0, slices=[SIGN_SLICE]), _uniform())
    facts.worst_slices = ["weather=clear"]
    for arm in facts.arms.values():
        for cycle in arm.cycles:
            cycle.scenes = {"weather=clear": 10}
    found = diagnose(facts)
    assert found is not None and found.lost_at == "plan"


@pytest.mark.parametrize(
    ("bins", "value", "expected"),
    [
        ({"box_size": "lowest"}, "distance=far", True),
        ({"box_size": "low", "class": "person"}, "distance=far", True),
        ({"box_size": "high"}, "distance=far", False),
        ({"box_size": "high"}, "distance=near", True),
        ({"overlap": "highest"}, "crowding=dense", True),
        ({"overlap": "lowest"}, "crowding=dense", False),
        ({"brightness": "low"}, "lighting=night", True),
        ({"brightness": "mid"}, "lighting=night", False),
        ({"contrast": "lowest"}, "weather=fog", True),
        ({"streaks": "high"}, "weather=rain", True),
        ({"streaks": "high"}, "weather=snow", False),
        ({"class": "sign"}, "distance=far", False),
    ],
)
def test_which_bins_touch_which_world_values(
    bins: dict[str, str], value: str, expected: bool
) -> None:
    assert touched([LoopSlice(name="s", conditions=bins)], value) is expected


def test_the_mapping_agrees_with_the_counterfactual_edits_and_covers_every_value() -> None:
    from tools.vocabulary import CONDITIONS

    assert set(SCENE_ATTRIBUTES) == {f"{c}={v}" for c, values in CONDITIONS.items() for v in values}
    for (condition, value), (attribute, direction) in SCENE_FACTORS.items():
        pointers = dict(SCENE_ATTRIBUTES[f"{condition}={value}"])
        assert pointers[attribute] == (LOW if direction == "low" else HIGH), (condition, value)


def test_the_markdown_section_names_where_each_world_lost() -> None:
    facts = {
        "world00": _world(_arm(0.40, 0.47, far=0, dense=0, slices=[SIGN_SLICE]), UNIFORM),
        "world01": _world(_arm(0.45, 0.46, far=90, dense=60, slices=[FAR_SLICE]), UNIFORM),
    }
    found = {name: diagnose(world) for name, world in facts.items()}
    text = markdown({k: v for k, v in found.items() if v is not None}, facts)
    assert "## Where targeting lost" in text
    assert (
        "| world00 | distance=far, crowding=dense | 0.08, 0.20 | - | 0.00 / 0.33, 0.00 / 0.50 "
        "| 0/2 / 0/2 | +0.070 / +0.020 | gate |" in text
    )
    assert "| world01 |" in text and text.rstrip().endswith("| ahead |")
    assert "no world" in markdown({}, {})
