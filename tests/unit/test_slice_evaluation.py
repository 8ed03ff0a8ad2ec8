"""Slice metrics from one pass of per-image matches equal FiftyOne's own evaluation of each slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import supervision as sv

from agent.bootstrap import build_deps
from agent.control.workspaces import init_workspace
from agent.settings import Settings
from agent.steps.predictions import slice_fields
from evaluation.metrics import evaluate_split, metrics_from_results, slice_name
from tests.conftest import TINY_WORLD


def _noisy(truth: sv.Detections, rng: np.random.Generator, size: int) -> sv.Detections:
    """Predictions a real detector might make: boxes off by a few pixels, some objects missed,
    some classes confused, spurious boxes, confidences spread over (0, 1)."""
    keep = rng.random(len(truth)) < 0.7
    boxes = truth.xyxy[keep] + rng.normal(0, 2.5, (int(keep.sum()), 4))
    classes = truth.class_id[keep].copy()
    swapped = rng.random(len(classes)) < 0.15
    classes[swapped] = (classes[swapped] + 1) % 3
    extra = int(rng.integers(0, 4))
    corner = rng.uniform(0, size - 20, (extra, 2))
    spurious = np.hstack([corner, corner + rng.uniform(6, 20, (extra, 2))])
    return sv.Detections(
        xyxy=np.vstack([boxes, spurious]).clip(0, size).astype(float),
        class_id=np.concatenate([classes, rng.integers(0, 3, extra)]).astype(int),
        confidence=rng.uniform(0.05, 1.0, len(classes) + extra),
    )


def test_every_slice_matches_evaluate_detections_on_that_slice(tmp_path: Path) -> None:
    world = tmp_path / "world.yaml"
    world.write_text(TINY_WORLD)
    init_workspace(tmp_path / "ws", world)
    deps = build_deps(Settings.load(tmp_path / "ws"))
    datasets = deps.datasets
    test = datasets.split("test")
    rng = np.random.default_rng(0)
    samples = datasets.samples(test)
    predictions = [
        _noisy(truth, rng, sample.width)
        for truth, sample in zip(datasets.labels(test), samples, strict=True)
    ]
    datasets.set_predictions([s.id for s in samples], predictions, "pred_noisy")

    fields = slice_fields(deps)
    result = evaluate_split(datasets, "noisy", "pred_noisy", "test", 0.25, fields)

    compared = 0
    for field_name in fields:
        for value in {v for v in datasets.values(test, field_name) if v is not None}:
            sub = datasets.where(test, field_name, value)
            expected = metrics_from_results(
                datasets.evaluate(sub, "pred_noisy", None), datasets.classes, 0.25, len(sub)
            )
            got = result.slices[slice_name(field_name, value)]
            assert got.model_dump() == expected.model_dump(), (field_name, value)
            compared += 1
    assert compared >= 6  # several slices of several conditions were checked
    # The matching's attributes stay on the pass's own copies, never on the stored labels.
    stored = [
        d for sample in test for d in sample.ground_truth.detections + sample.pred_noisy.detections
    ]
    assert stored and not any(
        {"eval", "eval_iou", "eval_id_0_5"} & set(d.field_names) for d in stored
    )
    # The stored evaluation (the App's failure views) is still the whole split's.
    assert result.overall.images == len(samples)
    assert any(0 < (m.recall or 0) < 1 for m in result.slices.values())
