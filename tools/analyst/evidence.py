"""Evidence images for an analyst: scenes with truth (green) and predictions (red), and crops of misses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image, ImageDraw

from tools.convert import class_ids

TRUTH_COLOUR = (40, 220, 60)
PREDICTION_COLOUR = (230, 40, 40)


def draw_scene(
    image_path: Path,
    truth: sv.Detections,
    predictions: sv.Detections,
    classes: list[str],
    out_path: Path,
    min_side: int = 448,
) -> Path:
    """The image upscaled to at least `min_side`, truth boxes green, predictions red."""
    with Image.open(image_path) as image:
        scene = image.convert("RGB")
    scale = max(1.0, min_side / min(scene.size))
    scene = scene.resize(
        (round(scene.width * scale), round(scene.height * scale)), Image.Resampling.NEAREST
    )
    draw = ImageDraw.Draw(scene)
    for detections, colour in ((truth, TRUTH_COLOUR), (predictions, PREDICTION_COLOUR)):
        for box, class_id in zip(detections.xyxy, class_ids(detections), strict=True):
            x0, y0, x1, y1 = (float(v) * scale for v in box)
            draw.rectangle([x0, y0, x1, y1], outline=colour, width=2)
            draw.text((x0 + 2, y0 + 1), classes[int(class_id)], fill=colour)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    scene.save(out_path)
    return out_path


def crop_object(
    image_path: Path, box: np.ndarray, out_path: Path, pad: float = 0.5, min_side: int = 224
) -> Path:
    """A padded crop around `box`, upscaled so that small objects are visible to the model."""
    with Image.open(image_path) as image:
        rgb = image.convert("RGB")
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    left, top = max(0.0, x0 - pad * w), max(0.0, y0 - pad * h)
    right, bottom = min(float(rgb.width), x1 + pad * w), min(float(rgb.height), y1 + pad * h)
    crop = rgb.crop(
        (int(left), int(top), max(int(right), int(left) + 1), max(int(bottom), int(top) + 1))
    )
    scale = max(1.0, min_side / max(1, min(crop.size)))
    crop = crop.resize(
        (round(crop.width * scale), round(crop.height * scale)), Image.Resampling.NEAREST
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    crop.save(out_path)
    return out_path
