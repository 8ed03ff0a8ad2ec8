"""Conversions at the edges: supervision.Detections to and from YOLO text and FiftyOne's relative boxes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv


@dataclass(frozen=True)
class RelativeBox:
    """A box as FiftyOne stores it: [x, y, w, h] relative to image size, with label and confidence."""

    label: str
    bounding_box: tuple[float, float, float, float]
    confidence: float | None = None


def class_ids(detections: sv.Detections) -> np.ndarray:
    """Class ids of `detections` (zeros if a backend gave none)."""
    if detections.class_id is None:
        return np.zeros(len(detections), dtype=np.int64)
    return np.asarray(detections.class_id)


def empty_detections() -> sv.Detections:
    return sv.Detections(
        xyxy=np.zeros((0, 4), dtype=np.float32),
        class_id=np.zeros(0, dtype=np.int64),
        confidence=None,
    )


def make_detections(
    xyxy: np.ndarray, class_id: np.ndarray, confidence: np.ndarray | None = None
) -> sv.Detections:
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    return sv.Detections(
        xyxy=xyxy,
        class_id=np.asarray(class_id, dtype=np.int64).reshape(-1),
        confidence=None if confidence is None else np.asarray(confidence, np.float32),
    )


def to_relative(
    detections: sv.Detections, width: int, height: int, classes: Sequence[str]
) -> list[RelativeBox]:
    """Pixel xyxy boxes to FiftyOne's relative [x, y, w, h], clipped to the image."""
    boxes = []
    for i, (x0, y0, x1, y1) in enumerate(detections.xyxy):
        x0, x1 = np.clip([x0, x1], 0, width)
        y0, y1 = np.clip([y0, y1], 0, height)
        if x1 <= x0 or y1 <= y0:
            continue
        class_id = int(detections.class_id[i]) if detections.class_id is not None else 0
        conf = None if detections.confidence is None else float(detections.confidence[i])
        boxes.append(
            RelativeBox(
                label=classes[class_id],
                bounding_box=(
                    float(x0 / width),
                    float(y0 / height),
                    float((x1 - x0) / width),
                    float((y1 - y0) / height),
                ),
                confidence=conf,
            )
        )
    return boxes


def from_relative(
    boxes: Sequence[RelativeBox], width: int, height: int, classes: Sequence[str]
) -> sv.Detections:
    """FiftyOne's relative boxes back to pixel xyxy; labels outside `classes` are dropped."""
    kept = [b for b in boxes if b.label in classes]
    if not kept:
        return empty_detections()
    xyxy = np.array(
        [
            [
                b.bounding_box[0] * width,
                b.bounding_box[1] * height,
                (b.bounding_box[0] + b.bounding_box[2]) * width,
                (b.bounding_box[1] + b.bounding_box[3]) * height,
            ]
            for b in kept
        ]
    )
    class_id = np.array([classes.index(b.label) for b in kept])
    confidences = [b.confidence for b in kept]
    confidence = None if any(c is None for c in confidences) else np.array(confidences)
    return make_detections(xyxy, class_id, confidence)


def to_yolo_lines(detections: sv.Detections, width: int, height: int) -> list[str]:
    """YOLO label lines `class cx cy w h` (relative), one per box inside the image."""
    lines = []
    for i, (x0, y0, x1, y1) in enumerate(detections.xyxy):
        x0, x1 = np.clip([x0, x1], 0, width)
        y0, y1 = np.clip([y0, y1], 0, height)
        if x1 <= x0 or y1 <= y0:
            continue
        cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
        w, h = (x1 - x0) / width, (y1 - y0) / height
        lines.append(f"{int(class_ids(detections)[i])} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


class YoloLabelError(ValueError):
    """A YOLO label line that cannot be used; the message says which line and why."""


def from_yolo_lines(
    lines: Sequence[str], width: int, height: int, num_classes: int
) -> sv.Detections:
    """Parse YOLO label lines; raise YoloLabelError on a malformed line, a bad class or a box outside."""
    xyxy, class_ids = [], []
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise YoloLabelError(f"line {number} has {len(parts)} fields, expected 5")
        try:
            class_id = int(parts[0])
            cx, cy, w, h = (float(p) for p in parts[1:])
        except ValueError as error:
            raise YoloLabelError(f"line {number} is not numeric") from error
        if not 0 <= class_id < num_classes:
            raise YoloLabelError(
                f"line {number}: class index {class_id} is outside 0..{num_classes - 1}"
            )
        if not all(math.isfinite(v) for v in (cx, cy, w, h)):
            raise YoloLabelError(f"line {number} holds a value that is not a finite number")
        x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        tolerance = 1e-3
        if (
            w <= 0
            or h <= 0
            or x0 < -tolerance
            or y0 < -tolerance
            or x1 > 1 + tolerance
            or y1 > 1 + tolerance
        ):
            raise YoloLabelError(f"line {number}: box is outside the image")
        xyxy.append(
            [max(x0, 0) * width, max(y0, 0) * height, min(x1, 1) * width, min(y1, 1) * height]
        )
        class_ids.append(class_id)
    if not xyxy:
        return empty_detections()
    return make_detections(np.array(xyxy), np.array(class_ids))
