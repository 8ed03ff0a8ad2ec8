"""Scene conditions read off field images and their labels (never the world's tags): what a user
without failforge knows about their own data, used by the benchmark's `generic` arm."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import supervision as sv
from PIL import Image

from evaluation.slices import image_statistics
from tools.image_filters import rgb_to_luma
from tools.vocabulary import DENSE_OBJECTS, DENSE_OVERLAP

# Thresholds read off the demo world's field camera (luma 0-255, Laplacian sharpness, share of
# speck pixels, streak energy, object size as a share of the image side) of the default
# 160-pixel camera (sharpness and specks change with resolution); calibrated by
# `scripts/calibrate_field_conditions.py`, which prints how often each estimate agrees with truth.
NIGHT_BRIGHTNESS = 55.0
DUSK_WARMTH = 20.0  # mean red minus blue: dusk light is orange
FOG_SHARPNESS = 150.0
SNOW_SPECKS = 0.004
RAIN_SLANT = 1.02  # horizontal over vertical gradient energy: rain streaks are slanted lines
FAR_SIZE = 0.12
NEAR_SIZE = 0.28


def estimate_conditions(
    stats: dict[str, float], box_sizes: np.ndarray, max_overlap: float, objects: int
) -> dict[str, str]:
    """Lighting, weather, distance and crowding of one image from `scene_statistics` and its boxes."""
    if stats["warmth"] > DUSK_WARMTH:
        lighting = "dusk"
    elif stats["brightness"] < NIGHT_BRIGHTNESS:
        lighting = "night"
    else:
        lighting = "day"
    if stats["sharpness"] < FOG_SHARPNESS:
        weather = "fog"
    elif stats["specks"] > SNOW_SPECKS:
        weather = "snow"
    elif stats["slant"] > RAIN_SLANT:
        weather = "rain"
    else:
        weather = "clear"
    size = float(np.median(box_sizes)) if len(box_sizes) else NEAR_SIZE
    distance = "far" if size < FAR_SIZE else "near" if size > NEAR_SIZE else "mid"
    dense = objects >= DENSE_OBJECTS or max_overlap > DENSE_OVERLAP
    return {
        "lighting": lighting,
        "weather": weather,
        "distance": distance,
        "crowding": "dense" if dense else "sparse",
    }


@lru_cache(maxsize=8192)
def scene_statistics(path: str) -> dict[str, float]:
    """`image_statistics` plus the colour warmth and gradient slant the estimates need."""
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    luma = rgb_to_luma(rgb)
    across = float(np.abs(np.diff(luma, axis=1)).mean())
    down = float(np.abs(np.diff(luma, axis=0)).mean())
    return {
        **image_statistics(path),
        "warmth": float((rgb[..., 0] - rgb[..., 2]).mean()),
        "slant": across / (down + 1e-6),
    }


def estimate_image_conditions(path: str, size: int, detections: sv.Detections) -> dict[str, str]:
    """The four conditions of one labelled image (an image without objects reads as near, sparse)."""
    widths = detections.xyxy[:, 2] - detections.xyxy[:, 0]
    heights = detections.xyxy[:, 3] - detections.xyxy[:, 1]
    overlap = 0.0
    if len(detections) > 1:
        ious = sv.box_iou_batch(detections.xyxy, detections.xyxy)
        np.fill_diagonal(ious, 0)
        overlap = float(ious.max())
    return estimate_conditions(
        scene_statistics(path), np.sqrt(widths * heights) / size, overlap, len(detections)
    )


def estimate_field_conditions(
    paths: Sequence[str], sizes: Sequence[int], labels: Sequence[sv.Detections]
) -> list[dict[str, str]]:
    """One estimate per image (images without objects are skipped: nothing to generate from)."""
    return [
        estimate_image_conditions(path, size, detections)
        for path, size, detections in zip(paths, sizes, labels, strict=True)
        if len(detections)
    ]
