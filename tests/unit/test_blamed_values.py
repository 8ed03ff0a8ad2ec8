"""`loop.blamed_values: deployment`: a hypothesis' lighting and weather drawn by the misses
deployment would meet instead of fixed at the value the analyst blamed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from agent.settings import Settings
from agent.state import LoopState
from agent.steps import aim_weights
from agent.steps.aim_weights import expected_misses
from agent.steps.condition_reads import pixel_conditions
from agent.steps.prompts import plan_requests
from evaluation.slices import FailureSlice, ObjectTable
from tests.fakes import FieldDatasets
from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions
from tools.world.config import WorldConfig
from tools.world.field import FieldImage, render_field

CLASSES = ["car", "person", "sign"]


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The benchmark sets these for its children; a test reads only what it gives.
    for name in ("FAILFORGE_LOOP__DEPLOY_IMAGES", "FAILFORGE_LOOP__BLAMED_VALUES"):
        monkeypatch.delenv(name, raising=False)


def _dark_far() -> tuple[FailureAnalysis, list[FailureSlice]]:
    """One hypothesis: dark, far objects are missed, blamed on night and distance."""
    hypothesis = Hypothesis(
        slice_name="dark",
        what_fails="dark far objects",
        why="test",
        conditions=SceneConditions(lighting="night", distance="far"),
        confidence=0.8,
    )
    failure = FailureSlice(name="dark", conditions={}, support=50, recall=0.3, deficit=0.3, score=1)
    return FailureAnalysis(analyst="test", hypotheses=[hypothesis]), [failure]


def test_a_blamed_condition_is_drawn_by_its_weights_and_the_rest_stays_blamed() -> None:
    analysis, slices = _dark_far()
    blamed = plan_requests(analysis, slices, 300, CLASSES, 3, "b")
    assert {r.conditions["lighting"] for r in blamed} == {"night"}  # as the analyst said
    weights = {"dark": {"lighting": {"day": 0.05, "dusk": 0.6, "night": 0.35}}}
    drawn = plan_requests(analysis, slices, 300, CLASSES, 3, "b", blamed_weights=weights)
    share = {
        v: sum(r.conditions["lighting"] == v for r in drawn) / 300 for v in ("day", "dusk", "night")
    }
    assert share == pytest.approx({"day": 0.05, "dusk": 0.6, "night": 0.35}, abs=0.07)
    assert all(r.conditions["distance"] == "far" for r in drawn)  # not weighted: as blamed
    # A condition the hypothesis does not blame is not touched by the blamed weights.
    weather = {"dark": {"weather": {"snow": 1.0}}}
    assert plan_requests(analysis, slices, 300, CLASSES, 3, "b", blamed_weights=weather) == blamed


def test_expected_misses_weigh_val_misses_by_prevalence() -> None:
    # On val the slice misses 6 objects at night, 4 at dusk, 1 by day, none in any weather but
    # clear; deployment shows dusk 5 times as often as val does, night as often, day a fifth.
    counts = {
        "dark": {
            "lighting": {"day": (1, 20), "dusk": (4, 6), "night": (6, 8)},
            "weather": {"clear": (0, 30), "fog": (0, 2), "rain": (0, 1), "snow": (0, 1)},
        }
    }
    prevalence = {
        "lighting": {"day": 0.2, "dusk": 5.0, "night": 1.0},
        "weather": {"clear": 1.0, "fog": 3.0, "rain": 1.0, "snow": 1.0},
    }
    weights = expected_misses(counts, prevalence)
    assert weights == {"dark": {"lighting": {"day": 0.2, "dusk": 20.0, "night": 6.0}}}
    # No miss in any weather: left out, so the images keep the weather the analyst blamed.


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory) -> list[FieldImage]:
    folder = tmp_path_factory.mktemp("field")
    return [i for i in render_field(WorldConfig(), folder, "val", count=60) if len(i.boxes)]


def test_the_weights_read_val_misses_and_deployment_pixels(
    tmp_path: Path, field: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One car per val image, missed exactly where the image reads as night; the deployment
    # images are copies of some of the field's. Only night has misses, so only night weighs.
    night = np.array([pixel_conditions(str(i.path))["lighting"] == "night" for i in field])
    assert 0 < night.sum() < len(field)
    ids = [f"s{k}" for k in range(len(field))]
    table = ObjectTable(ids, np.array(["car"] * len(field)), {}, ~night)
    monkeypatch.setattr(aim_weights, "val_object_table", lambda deps, model: table)
    (tmp_path / "deploy").mkdir()
    for image in field[:20]:
        shutil.copy(image.path, tmp_path / "deploy" / image.path.name)
    settings = Settings(workspace=tmp_path, workspace_id="w", loop={"deploy_images": "deploy"})
    deps: Any = SimpleNamespace(settings=settings, datasets=FieldDatasets(field, 160))
    failure = FailureSlice(name="all", conditions={}, support=60, recall=0.7, deficit=0.2, score=1)
    state = LoopState(loop_id="l", max_cycles=1, budget=10, incumbent="v1", slices=[failure])
    lighting = aim_weights.deployment_miss_weights(deps, state)["all"]["lighting"]
    assert lighting["night"] > 0 and lighting["day"] == 0 and lighting["dusk"] == 0


def test_deployment_without_deployment_images_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("set loop.deploy_images to a folder of them")):
        Settings(workspace=tmp_path, workspace_id="w", loop={"blamed_values": "deployment"})
    assert Settings(workspace=tmp_path, workspace_id="w").loop.blamed_values == "analyst"
