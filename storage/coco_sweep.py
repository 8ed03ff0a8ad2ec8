"""COCO-style matches kept per image, so that any subset of images is evaluated without reading it again.

FiftyOne's `evaluate_detections` reads every sample of the view it is given, matches its objects
at IoU 0.5 and again over the IoU sweep 0.50:0.95, and aggregates. Matching is per image, so
the metrics of a slice (a subset of images) follow from the same per-image matches: one pass over
a split replaces one full evaluation per slice (4 per model on the demo world, about 80% of a
test evaluation's time). The aggregation below is FiftyOne's own (`_compute_pr_curves` and
`DetectionResults`), and a test holds it equal to `evaluate_detections` on every slice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from storage.detection_evaluation import MISSING, DetectionEvaluation

RECALL_POINTS = np.linspace(0, 1, 101)


@dataclass
class ImageMatches:
    """One image's matches: at IoU 0.5 (label pairs and confidences) and per sweep threshold."""

    single: list[tuple[str | None, str | None, float | None]]
    sweep: list[list[tuple[str | None, str | None, float | None, bool]]]


class SweepEvaluation:
    """Per-image matches of one prediction field on a view, evaluated on any subset of its images."""

    def __init__(self, view: Any, pred_field: str, gt_field: str, classes: Sequence[str]):
        from fiftyone.utils.eval import coco

        config = coco.COCOEvaluationConfig(
            pred_field, gt_field, iou=0.5, classwise=True, compute_mAP=True
        )
        self.classes = list(classes)
        self.iou_thresholds = np.asarray(config.iou_threshs)
        self.images: dict[str, ImageMatches] = {}
        for sample in view.select_fields([gt_field, pred_field]).iter_samples():
            gts, preds = sample[gt_field], sample[pred_field]
            # Matching writes match attributes on these labels. They are this loop's own
            # in-memory copies, never saved (FiftyOne copies them once more, half of its time),
            # and each matching resets the attributes it reads before it starts.
            # Both matchings, as FiftyOne runs them: the sweep keeps at most 100 predictions
            # per image, the IoU 0.5 matching (recall and precision at a threshold) all.
            single = coco._coco_evaluation_single_iou(gts, preds, "eval", config)
            sweep = coco._coco_evaluation_iou_sweep(gts, preds, config)
            self.images[sample.id] = ImageMatches(
                single=[(m[0], m[1], m[3]) for m in single],
                sweep=[[(m[0], m[1], m[3], bool(m[-1])) for m in ms] for ms in sweep],
            )

    def evaluation(self, sample_ids: Iterable[str]) -> DetectionEvaluation:
        """The evaluation of these images, as `evaluate_detections` on a view of them gives it."""
        images = [self.images[i] for i in sample_ids]
        single = [m for image in images for m in image.single]
        return DetectionEvaluation(
            precision=self._precision([image.sweep for image in images]),
            iou_thresholds=self.iou_thresholds,
            classes=self.classes,
            ytrue=np.asarray([MISSING if m[0] is None else m[0] for m in single], dtype=object),
            ypred=np.asarray([MISSING if m[1] is None else m[1] for m in single], dtype=object),
            confidences=np.array([-1.0 if m[2] is None else float(m[2]) for m in single]),
        )

    def _precision(
        self, images: list[list[list[tuple[str | None, str | None, float | None, bool]]]]
    ) -> np.ndarray:
        """Interpolated precision at 101 recall points per IoU threshold and class (FiftyOne's
        `_compute_pr_curves`, itself pycocotools' accumulate); -1 where a class has no object."""
        index = {c: k for k, c in enumerate(self.classes)}
        precision = -np.ones((len(self.iou_thresholds), len(self.classes), len(RECALL_POINTS)))
        for t in range(len(self.iou_thresholds)):
            tp: dict[str, list[float]] = {}
            fp: dict[str, list[float]] = {}
            num_gt: dict[str, int] = {}
            for image in images:
                for gt_label, pred_label, conf, crowd in image[t]:
                    if crowd:
                        continue
                    c = gt_label if gt_label is not None else pred_label
                    assert c is not None
                    if gt_label == pred_label:
                        tp.setdefault(c, []).append(conf)  # type: ignore[arg-type]
                    elif pred_label:
                        fp.setdefault(c, []).append(conf)  # type: ignore[arg-type]
                    if gt_label:
                        num_gt[c] = num_gt.get(c, 0) + 1
            for c, n in num_gt.items():
                if c in index and n:
                    precision[t, index[c]] = _interpolated(tp.get(c, []), fp.get(c, []), n)
        return precision


def _interpolated(tp: list[float], fp: list[float], num_gt: int) -> np.ndarray:
    """Precision at each recall point from one class's true and false positives."""
    hits = np.array([1] * len(tp) + [0] * len(fp))
    confs = np.array(tp + fp, dtype=float)
    order = np.argsort(-confs, kind="mergesort")
    tp_sum = np.cumsum(hits[order]).astype(float)
    pre = tp_sum / np.arange(1, len(hits) + 1, dtype=float)
    rec = tp_sum / num_gt
    pre = np.maximum.accumulate(pre[::-1])[::-1]  # precision made monotone from the right
    q = np.zeros(len(RECALL_POINTS))
    inds = np.searchsorted(rec, RECALL_POINTS, side="left")
    valid = inds < len(pre)
    q[valid] = pre[inds[valid]]
    return q
