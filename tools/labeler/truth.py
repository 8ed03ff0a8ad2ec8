"""SceneTruthLabeler: exact labels from the procedural renderer's scene truth."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import supervision as sv

from tools.convert import class_ids, make_detections
from tools.generator.base import GeneratedImage
from tools.labeler.base import Label, LabelFailure


class SceneTruthLabeler:
    """Reads the renderer's truth file beside each image; an image without one is a failure."""

    name = "truth"
    exact = True

    def label(self, images: Sequence[GeneratedImage], classes: Sequence[str]) -> list[Label]:
        labels: list[Label] = []
        for image in images:
            if image.truth_path is None or not image.truth_path.is_file():
                labels.append(
                    LabelFailure(
                        f"no scene truth beside {Path(image.path).name}: the truth labeller "
                        "labels only images the procedural renderer made"
                    )
                )
                continue
            truth = json.loads(image.truth_path.read_text())
            known = [i for i, c in enumerate(truth["classes"]) if c in classes]
            boxes = np.array([truth["boxes"][i] for i in known]).reshape(-1, 4)
            labels.append(
                make_detections(
                    boxes, np.array([classes.index(truth["classes"][i]) for i in known])
                )
            )
        return labels


def check_labels(
    detections: sv.Detections, width: int, height: int, min_side: float = 2.0
) -> tuple[sv.Detections, int]:
    """Drop degenerate boxes (too thin, outside the image); returns what is kept and the count dropped."""
    if len(detections) == 0:
        return detections, 0
    xyxy = detections.xyxy
    ok = (
        (xyxy[:, 2] - xyxy[:, 0] >= min_side)
        & (xyxy[:, 3] - xyxy[:, 1] >= min_side)
        & (xyxy[:, 0] >= -0.5)
        & (xyxy[:, 1] >= -0.5)
        & (xyxy[:, 2] <= width + 0.5)
        & (xyxy[:, 3] <= height + 0.5)
    )
    kept = make_detections(xyxy[ok], class_ids(detections)[ok])
    return kept, int((~ok).sum())
