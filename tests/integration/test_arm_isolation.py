"""Benchmark arms share one FiftyOne database: each clone's predictions and evaluations stay its own;
what a clone may share with its source (the field camera estimate) it carries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.bootstrap import build_deps
from agent.control.workspaces import clone_workspace, init_workspace
from agent.settings import Settings
from agent.steps.camera import CAMERA_FILE, field_camera
from agent.steps.predictions import slice_fields
from evaluation.metrics import evaluate_split
from tools.convert import make_detections

pytestmark = pytest.mark.slow

WORLD = """\
seed: 5
image_size: 64
splits: {train: 8, val: 8, test: 40}
"""


def test_two_arms_with_different_models_get_different_slice_evaluations(tmp_path: Path) -> None:
    world = tmp_path / "world.yaml"
    world.write_text(WORLD)
    init_workspace(tmp_path / "base", world)
    base = build_deps(Settings.load(tmp_path / "base"))
    # Two arms' "models": one misses every object at night, the other every object in fog.
    blind = {"a": ("world_lighting", "night"), "b": ("world_weather", "fog")}
    results = {}
    for arm, (field, value) in blind.items():
        clone_workspace(base, tmp_path / arm, {})
        deps = build_deps(Settings.load(tmp_path / arm))
        view = deps.datasets.split("test")
        ids = [s.id for s in deps.datasets.samples(view)]
        truths = deps.datasets.labels(view)
        conditions = deps.datasets.values(view, field)
        predictions = [
            make_detections(t.xyxy, t.class_id, np.full(len(t), 0.9))
            if c != value
            else make_detections(np.zeros((0, 4)), np.zeros(0, dtype=int))
            for t, c in zip(truths, conditions, strict=True)
        ]
        deps.datasets.set_predictions(ids, predictions, "pred_v2")
        results[arm] = deps
    evaluations = {
        arm: evaluate_split(deps.datasets, "v2", "pred_v2", "test", 0.25, slice_fields(deps))
        for arm, deps in results.items()
    }
    a, b = evaluations["a"].slices, evaluations["b"].slices
    assert a["lighting=night"].recall == 0 and b["weather=fog"].recall == 0
    assert (a["weather=fog"].recall or 0) > 0 and (b["lighting=night"].recall or 0) > 0
    # Evaluating one arm again after the other gives its own figures back, unchanged.
    again = evaluate_split(
        results["a"].datasets, "v2", "pred_v2", "test", 0.25, slice_fields(results["a"])
    )
    assert again.slices == evaluations["a"].slices
    # And the base workspace never saw either arm's predictions.
    assert "pred_v2" not in base.datasets.field_names(prefix="pred_")


def test_a_clone_carries_its_sources_field_camera_instead_of_estimating_it_again(
    tmp_path: Path,
) -> None:
    world = tmp_path / "world.yaml"
    world.write_text(WORLD)
    init_workspace(tmp_path / "base", world)
    base = build_deps(Settings.load(tmp_path / "base"))
    clone_workspace(base, tmp_path / "before", {})
    assert not (tmp_path / "before" / CAMERA_FILE).exists()  # nothing to carry yet
    camera = field_camera(base, images=4)
    clone_workspace(base, tmp_path / "after", {})
    stored = (tmp_path / "after" / CAMERA_FILE).read_text()
    assert stored == (tmp_path / "base" / CAMERA_FILE).read_text()
    assert field_camera(build_deps(Settings.load(tmp_path / "after"))) == camera
