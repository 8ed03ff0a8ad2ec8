"""A COCO-style detection evaluation as plain arrays: what storage hands to the metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MISSING = "(none)"  # FiftyOne's label for the missing side of a match


@dataclass
class DetectionEvaluation:
    """A COCO-style detection evaluation as plain arrays (what FiftyOne's results object holds)."""

    precision: np.ndarray  # (IoU thresholds, classes, recall points); -1 where a class is absent
    iou_thresholds: np.ndarray
    classes: list[str]
    ytrue: np.ndarray  # per matched pair: true class name, or MISSING for a false positive
    ypred: np.ndarray  # per matched pair: predicted class name, or MISSING for a miss
    confidences: np.ndarray  # per matched pair: prediction confidence, -1 where none
