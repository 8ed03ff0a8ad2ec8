"""Detection metrics read off a handcrafted COCO-style evaluation (the arrays storage hands over)."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.metrics import metrics_from_results
from storage.detection_evaluation import DetectionEvaluation


def test_map_recall_and_precision_from_plain_arrays() -> None:
    # IoU thresholds 0.5 and 0.55; classes car and sign (sign absent: -1 everywhere).
    precision = np.full((2, 2, 4), -1.0)
    precision[0, 0] = [1.0, 1.0, 0.5, 0.5]  # car at IoU 0.5: AP 0.75
    precision[1, 0] = [1.0, 0.5, 0.5, 0.0]  # car at IoU 0.55: AP 0.5
    evaluation = DetectionEvaluation(
        precision=precision,
        iou_thresholds=np.array([0.5, 0.55]),
        classes=["car", "sign"],
        # Three true cars: two found (one under the confidence threshold), one missed;
        # one false positive.
        ytrue=np.array(["car", "car", "car", "(none)"], dtype=object),
        ypred=np.array(["car", "car", "(none)", "car"], dtype=object),
        confidences=np.array([0.9, 0.1, -1.0, 0.8]),
    )
    metrics = metrics_from_results(evaluation, ["car", "sign", "person"], 0.25, images=2)
    assert metrics.map50 == pytest.approx(0.75) and metrics.ap50_per_class == {"car": 0.75}
    assert metrics.map50_95 == pytest.approx(0.625)
    assert metrics.recall == pytest.approx(1 / 3) and metrics.precision == pytest.approx(1 / 2)
    assert (metrics.objects, metrics.images) == (3, 2)
