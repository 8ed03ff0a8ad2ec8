"""Detection metrics overall and per slice, from COCO-style evaluations (storage hands over the arrays)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from storage.datasets import WorkspaceDatasets
from storage.detection_evaluation import MISSING, DetectionEvaluation


class DetectionMetrics(BaseModel):
    """mAP and recall/precision of one set of images; None where there is nothing to measure."""

    map50: float | None = Field(None, description="mean over classes of AP at IoU 0.5")
    map50_95: float | None = Field(None, description="COCO mAP, IoU 0.50:0.95")
    precision: float | None = Field(None, description="at the confidence threshold, IoU 0.5")
    recall: float | None = Field(None, description="at the confidence threshold, IoU 0.5")
    ap50_per_class: dict[str, float] = Field(default_factory=dict)
    images: int = 0
    objects: int = 0


class EvaluationResult(BaseModel):
    """A model's metrics on one split, overall and per slice (slice name -> metrics)."""

    model: str
    split: str
    eval_key: str
    overall: DetectionMetrics
    slices: dict[str, DetectionMetrics] = Field(default_factory=dict)

    @classmethod
    def recorded(cls, metrics: Mapping[str, Any], split: str) -> EvaluationResult | None:
        """The evaluation on `split` as a model version's registry metrics keep it (JSON, by
        split); None where the model was never evaluated there."""
        stored = metrics.get(split)
        return None if stored is None else cls.model_validate(stored)


def metrics_from_results(
    results: DetectionEvaluation, classes: Sequence[str], conf_threshold: float, images: int
) -> DetectionMetrics:
    """Read mAP50, mAP50-95 and thresholded precision/recall off a COCO-style evaluation."""
    precision_curves = results.precision  # (ious, classes, recall points)
    iou_threshs = results.iou_thresholds
    result_classes = results.classes
    ap50: dict[str, float] = {}
    ap_all: list[float] = []
    if precision_curves.size:
        at_50 = int(np.argmin(np.abs(iou_threshs - 0.5)))
        for name in classes:
            if name not in result_classes:
                continue
            c = result_classes.index(name)
            if np.all(precision_curves[:, c, :] < 0):  # class absent from this set of images
                continue
            ap50[name] = float(np.mean(precision_curves[at_50, c, :]))
            ap_all.append(float(np.mean(precision_curves[:, c, :])))
    ytrue, ypred, confs = results.ytrue, results.ypred, results.confidences
    is_gt = ytrue != MISSING
    is_pred = (ypred != MISSING) & (confs >= conf_threshold)
    true_pos = int(np.sum(is_gt & is_pred & (ytrue == ypred)))
    n_gt, n_pred = int(np.sum(is_gt)), int(np.sum(is_pred))
    return DetectionMetrics(
        map50=float(np.mean(list(ap50.values()))) if ap50 else None,
        map50_95=float(np.mean(ap_all)) if ap_all else None,
        precision=true_pos / n_pred if n_pred else None,
        recall=true_pos / n_gt if n_gt else None,
        ap50_per_class=ap50,
        images=images,
        objects=n_gt,
    )


def slice_name(field_name: str, value: Any) -> str:
    """`world_lighting` + `night` -> `lighting=night`."""
    return f"{field_name.removeprefix(WorkspaceDatasets.CONDITION_PREFIX)}={value}"


def evaluate_split(
    datasets: WorkspaceDatasets,
    model: str,
    pred_field: str,
    split: str,
    conf_threshold: float,
    slice_fields: Sequence[str] = (),
) -> EvaluationResult:
    """Evaluate `pred_field` on `split` under eval key `<model>_<split>`, then per slice value.

    Slices are the distinct values of `slice_fields` (e.g. the world's `world_*` conditions);
    their evaluations are not stored, only the overall one is (so the App can query failures).
    """
    view = datasets.split(split)
    eval_key = f"{model}_{split}"
    results = datasets.evaluate(view, pred_field, eval_key)
    overall = metrics_from_results(results, datasets.classes, conf_threshold, len(view))
    slices: dict[str, DetectionMetrics] = {}
    if slice_fields:
        # One pass over the split's images; each slice is then evaluated from their matches.
        sweep = datasets.sweep(view, pred_field)
        ids = datasets.values(view, "id")
        for field_name in slice_fields:
            values = datasets.values(view, field_name)
            for value in sorted({v for v in values if v is not None}):
                members = [i for i, v in zip(ids, values, strict=True) if v == value]
                slices[slice_name(field_name, value)] = metrics_from_results(
                    sweep.evaluation(members), datasets.classes, conf_threshold, len(members)
                )
    return EvaluationResult(
        model=model, split=split, eval_key=eval_key, overall=overall, slices=slices
    )
