"""Conversions at the edges: YOLO text and FiftyOne relative boxes to and from supervision.Detections."""

from __future__ import annotations

import numpy as np
import pytest

from tools.convert import (
    YoloLabelError,
    empty_detections,
    from_relative,
    from_yolo_lines,
    make_detections,
    to_relative,
    to_yolo_lines,
)

CLASSES = ["car", "person", "sign"]


@pytest.mark.parametrize(
    ("xyxy", "class_id"),
    [
        (np.zeros((0, 4)), np.zeros(0)),
        (np.array([[10, 20, 50, 60]]), np.array([0])),
        (np.array([[0, 0, 160, 90], [5.5, 6.5, 7.5, 30]]), np.array([2, 1])),
    ],
)
def test_yolo_and_relative_round_trips(xyxy: np.ndarray, class_id: np.ndarray) -> None:
    detections = make_detections(xyxy, class_id)
    back = from_yolo_lines(to_yolo_lines(detections, 160, 90), 160, 90, len(CLASSES))
    np.testing.assert_allclose(back.xyxy, detections.xyxy, atol=1e-3)
    np.testing.assert_array_equal(back.class_id, detections.class_id)
    rel = from_relative(to_relative(detections, 160, 90, CLASSES), 160, 90, CLASSES)
    np.testing.assert_allclose(rel.xyxy, detections.xyxy, atol=1e-3)


def test_boxes_are_clipped_and_degenerate_ones_dropped() -> None:
    detections = make_detections(np.array([[-5, -5, 20, 20], [200, 10, 220, 20]]), np.array([0, 1]))
    boxes = to_relative(detections, 100, 100, CLASSES)
    assert len(boxes) == 1 and boxes[0].bounding_box == pytest.approx((0.0, 0.0, 0.2, 0.2))
    assert to_yolo_lines(detections, 100, 100) == ["0 0.100000 0.100000 0.200000 0.200000"]


def test_confidence_survives_the_relative_round_trip() -> None:
    detections = make_detections(np.array([[1, 2, 3, 4]]), np.array([1]), np.array([0.75]))
    back = from_relative(to_relative(detections, 10, 10, CLASSES), 10, 10, CLASSES)
    assert back.confidence is not None and back.confidence[0] == pytest.approx(0.75)
    assert len(from_relative([], 10, 10, CLASSES)) == len(empty_detections()) == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("0 0.5 0.5 0.2", "4 fields, expected 5"),
        ("car 0.5 0.5 0.2 0.2", "not numeric"),
        ("3 0.5 0.5 0.2 0.2", "class index 3 is outside 0..2"),
        ("-1 0.5 0.5 0.2 0.2", "class index -1"),
        ("0 0.95 0.5 0.2 0.2", "outside the image"),
        ("0 0.5 0.5 0 0.2", "outside the image"),
    ],
)
def test_broken_yolo_lines_are_refused_with_the_reason(line: str, reason: str) -> None:
    with pytest.raises(YoloLabelError, match=reason):
        from_yolo_lines([line], 100, 100, len(CLASSES))


def test_blank_yolo_lines_are_ignored() -> None:
    assert len(from_yolo_lines(["", "  "], 10, 10, 3)) == 0
