"""The BatchPlanner port: one planner per strategy, each spending the budget its own way."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args

import numpy as np
import pytest

from agent.ports import Budget
from agent.settings import LoopSettings, Settings
from agent.state import LoopState
from agent.steps.planning import PLANNERS
from evaluation.field_conditions import estimate_field_conditions
from tests.fakes import FieldDatasets, night_misses_table
from tools.convert import make_detections
from tools.world.config import WorldConfig
from tools.world.field import FieldImage, render_field

CLASSES = ["car", "person", "sign"]


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory) -> list[FieldImage]:
    world = WorldConfig()  # the thresholds are read off the default 160-pixel camera
    folder = tmp_path_factory.mktemp("field")
    return [i for i in render_field(world, folder, "train", count=80) if len(i.boxes)]


def _deps(tmp_path: Path, images: list[FieldImage], **loop: Any) -> Any:
    settings = Settings(workspace=tmp_path, workspace_id="plan", loop=loop)
    return SimpleNamespace(settings=settings, datasets=FieldDatasets(images, 160))


def _state() -> LoopState:
    return LoopState(loop_id="l", max_cycles=1, budget=600, incumbent="v1")


def test_every_strategy_has_a_planner() -> None:
    strategy = LoopSettings.model_fields["strategy"].annotation
    assert set(PLANNERS) == set(get_args(strategy))
    assert [name for name, p in PLANNERS.items() if p.trains_without_images] == ["none"]
    assert {name for name, p in PLANNERS.items() if p.needs_slices} == {"targeted", "retrieval"}


def test_old_benchmarks_strategy_name_still_loads(tmp_path: Path) -> None:
    assert Settings(workspace=tmp_path, loop={"strategy": "untargeted"}).loop.strategy == "uniform"


def test_uniform_spreads_every_condition_evenly(tmp_path: Path, field: list[FieldImage]) -> None:
    requests = PLANNERS["uniform"]().plan(
        _deps(tmp_path, field), _state(), Budget(600, "b", seed=3)
    )
    assert len(requests) == 600 and len({r.id for r in requests}) == 600
    night = sum(r.conditions["lighting"] == "night" for r in requests) / 600
    assert night == pytest.approx(1 / 3, abs=0.06)
    assert all("night" in r.prompt for r in requests if r.conditions["lighting"] == "night")


def test_generic_asks_for_the_class_alone_and_gets_scenes_like_the_field(
    tmp_path: Path, field: list[FieldImage]
) -> None:
    requests = PLANNERS["generic"]().plan(
        _deps(tmp_path, field), _state(), Budget(400, "b", seed=3)
    )
    assert {r.prompt for r in requests} <= {
        "a photo of a car",
        "a photo of a pedestrian",
        "a photo of a traffic sign",
    }
    shares = Counter(r.conditions["lighting"] for r in requests)
    field_night = np.mean([i.conditions.lighting == "night" for i in field])
    # Night is a tenth of the field (default priors): generic requests follow the field, not 1/3.
    assert shares["night"] / 400 == pytest.approx(field_night, abs=0.08)
    assert shares["day"] > shares["dusk"] + shares["night"]


def test_the_oracle_spends_on_the_slices_it_is_given(
    tmp_path: Path, field: list[FieldImage]
) -> None:
    oracle = {"distance=far": 0.3, "lighting=night": 0.1}
    deps = _deps(tmp_path, field, oracle_slices=oracle, edit_share=0.0)
    requests = PLANNERS["oracle"]().plan(deps, _state(), Budget(100, "b", seed=1))
    by_slice = Counter(r.slice_name for r in requests)
    assert set(by_slice) == set(oracle) and by_slice["distance=far"] > by_slice["lighting=night"]
    assert all(
        r.conditions["distance"] == "far" for r in requests if r.slice_name == "distance=far"
    )
    with pytest.raises(RuntimeError, match="oracle_slices"):
        PLANNERS["oracle"]().plan(_deps(tmp_path, field), _state(), Budget(10, "b", seed=1))


def test_none_plans_nothing(tmp_path: Path, field: list[FieldImage]) -> None:
    assert PLANNERS["none"]().plan(_deps(tmp_path, field), _state(), Budget(50, "b", 0)) == []


def test_field_conditions_read_off_pixels_agree_with_the_world(field: list[FieldImage]) -> None:
    estimates = estimate_field_conditions(
        [str(i.path) for i in field],
        [160] * len(field),
        [make_detections(i.boxes, i.class_ids) for i in field],
    )
    for condition, floor in (("lighting", 0.85), ("weather", 0.65), ("distance", 0.7)):
        agree = np.mean(
            [
                e[condition] == getattr(i.conditions, condition)
                for e, i in zip(estimates, field, strict=True)
            ]
        )
        assert agree >= floor, (condition, agree)


def test_miss_weights_point_at_the_conditions_where_a_slice_misses(
    tmp_path: Path, field: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.steps import aim_weights
    from evaluation.slices import FailureSlice

    # One object per image; the detector misses exactly the objects of night images.
    table = night_misses_table(field)
    monkeypatch.setattr(aim_weights, "val_object_table", lambda deps, model: table)
    state = _state().model_copy(
        update={
            "slices": [
                FailureSlice(
                    name="small", conditions={}, support=80, recall=0.5, deficit=0.2, score=0.1
                )
            ],
            "bin_edges": {"box_size": [0.0, 0.2, 0.4, 0.6]},
        }
    )
    weights = aim_weights.miss_weights(_deps(tmp_path, field), state)["small"]["lighting"]
    assert weights["night"] > 0.6 and weights["day"] < 0.2 and weights["dusk"] < 0.3


def test_a_refuted_hypothesis_gets_less_of_the_next_budget(
    tmp_path: Path, field: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.state import CycleRecord
    from agent.steps import planning
    from evaluation.slices import FailureSlice
    from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions

    monkeypatch.setattr(planning, "edit_sources", lambda deps, seed: [])
    slices = [
        FailureSlice(name=n, conditions={}, support=50, recall=0.3, deficit=0.3, score=0.1)
        for n in ("far", "night")
    ]
    analysis = FailureAnalysis(
        analyst="t",
        hypotheses=[
            Hypothesis(slice_name=name, what_fails="", why="", confidence=1, conditions=blamed)
            for name, blamed in (
                ("far", SceneConditions(distance="far")),
                ("night", SceneConditions(lighting="night")),
            )
        ],
    )
    state = _state().model_copy(update={"slices": slices, "analysis": analysis})

    def spent(history: list[CycleRecord]) -> Counter[str]:
        planned = planning.PLANNERS["targeted"]().plan(
            _deps(tmp_path, field),
            state.model_copy(update={"history": history}),
            Budget(90, "b", 1),
        )
        return Counter(r.slice_name for r in planned)

    assert spent([]) == {"far": 45, "night": 45}
    refuted = CycleRecord(
        cycle=1,
        batch_id="b",
        approved=True,
        images=9,
        candidate="v2",
        promoted=False,
        outcomes={"far": "refuted", "night": "confirmed"},
    )
    after = spent([refuted])
    assert after["far"] < after["night"] and sum(after.values()) == 90


def test_a_slices_images_are_about_the_classes_it_misses(
    tmp_path: Path, field: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.steps import aim_weights, planning
    from agent.steps.prompts import SUBJECTS
    from evaluation.slices import BIN_NAMES, FailureSlice, ObjectTable
    from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions

    # A far slice of 60 objects: every car found, 30 of 30 people and 9 of 10 signs missed.
    classes = np.array(["car"] * 20 + ["person"] * 30 + ["sign"] * 10)
    found = np.array([True] * 20 + [False] * 30 + [True] + [False] * 9)
    table = ObjectTable(
        [f"s{k}" for k in range(60)], classes, {"box_size": np.full(60, 0.05)}, found
    )
    monkeypatch.setattr(aim_weights, "val_object_table", lambda deps, model: table)
    monkeypatch.setattr(planning, "edit_sources", lambda deps, seed: [])
    far = FailureSlice(
        name="far",
        conditions={"box_size": BIN_NAMES[1]},
        support=60,
        recall=0.35,
        deficit=0.4,
        score=0.2,
    )
    state = _state().model_copy(
        update={
            "slices": [far],
            "bin_edges": {"box_size": [0.0, 0.1, 1.0]},
            "analysis": FailureAnalysis(
                analyst="t",
                hypotheses=[
                    Hypothesis(
                        slice_name="far",
                        what_fails="",
                        why="",
                        confidence=1,
                        conditions=SceneConditions(distance="far"),
                    )
                ],
            ),
        }
    )
    deps = _deps(tmp_path, field, subject_classes="misses")
    assert aim_weights.missed_classes(deps, state) == {
        "far": {"car": 1.0, "person": 31.0, "sign": 10.0}
    }
    planned = planning.PLANNERS["targeted"]().plan(deps, state, Budget(420, "b", 1))
    subjects = Counter(r.class_focus[0] for r in planned)
    # In proportion to the misses (plus one each): about 10 cars, 310 people, 100 signs.
    assert subjects["car"] < 30 and 270 < subjects["person"] < 350 and 70 < subjects["sign"] < 130
    # The prompt is about the same class the image leans to (what a text-to-image backend reads).
    assert all(r.prompt.startswith(SUBJECTS[r.class_focus[0]]) for r in planned)
    assert all(r.conditions["distance"] == "far" for r in planned)
    # Uniform subjects (the default): no image leans to a class, subjects spread evenly.
    uniform = planning.PLANNERS["targeted"]().plan(
        _deps(tmp_path, field), state, Budget(420, "b", 1)
    )
    assert all(r.class_focus == [] for r in uniform)
