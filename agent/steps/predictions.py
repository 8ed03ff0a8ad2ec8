"""Predictions and their evaluation per split, and the exports training reads: what every cycle runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.ports import Deps, Progress, no_progress
from evaluation.metrics import evaluate_split
from storage.datasets import WorkspaceDatasets
from storage.export import ExportItem

SLICE_PREFIX = WorkspaceDatasets.CONDITION_PREFIX


def slice_fields(deps: Deps) -> list[str]:
    """The world condition fields present in the field dataset (none for imported data)."""
    return deps.datasets.field_names(prefix=SLICE_PREFIX)


def export_items(deps: Deps, view: Any) -> list[ExportItem]:
    """The samples of a dataset view as images with their ground-truth boxes, for a YOLO export."""
    samples = deps.datasets.samples(view)
    labels = deps.datasets.labels(view)
    return [
        ExportItem(s.path, s.width, s.height, det) for s, det in zip(samples, labels, strict=True)
    ]


def predict_and_evaluate(
    deps: Deps,
    model: str,
    weights: Path,
    splits: tuple[str, ...],
    progress: Progress = no_progress,
    save_views: bool = True,
) -> dict[str, Any]:
    """Predict with `weights` on `splits`, store predictions as `pred_<model>`, evaluate each split.

    `save_views` points the saved views `<split> failures` at this model: only the incumbent's.
    """
    metrics: dict[str, Any] = {}
    truth_fields = slice_fields(deps)
    for index, split in enumerate(splits, 1):
        # World slices are report-only truth: measured on `test`, never on `val`, which the
        # loop's decisions use (and where it finds its own slices from pixels and labels).
        fields = truth_fields if split == "test" else []
        view = deps.datasets.split(split)
        samples = deps.datasets.samples(view)
        predictions = deps.detector.predict(weights, [s.path for s in samples])
        deps.datasets.set_predictions(
            [s.id for s in samples], predictions, WorkspaceDatasets.prediction_field(model)
        )
        result = evaluate_split(
            deps.datasets,
            model,
            WorkspaceDatasets.prediction_field(model),
            split,
            deps.settings.evaluation.conf_threshold,
            fields,
        )
        metrics[split] = result.model_dump(mode="json")
        if save_views:
            deps.datasets.save_failure_views(split, result.eval_key)
        progress("evaluate", index, len(splits))
    return metrics
