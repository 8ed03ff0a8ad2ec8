"""Attributes measured from an image's pixels and boxes: what discovery bins and generators aim at."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from tools.image_filters import laplacian, median3x3, rgb_to_luma

# What discovery measures per image, and per object (units in `measure_image`, `box_sizes`).
IMAGE_ATTRIBUTES = ("brightness", "contrast", "haze", "streaks", "specks", "sharpness")
OBJECT_ATTRIBUTES = ("box_size", "overlap")
# Measured for generators' targets only: discovery does not bin them.
EXTRA_ATTRIBUTES = ("noise", "colour_cast", "jpeg_quality")

# IJG's base luminance quantisation table (JPEG standard, Annex K), in zigzag-free raster order:
# a JPEG file's quality is read back as the IJG quality whose scaled table is nearest its own.
_IJG_LUMA = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.float64,
)  # fmt: skip


def _as_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32, copy=False)


def brightness(rgb: np.ndarray) -> float:
    """Mean BT.601 luma, 0-255."""
    return float(rgb_to_luma(_as_float(rgb)).mean())


def contrast(rgb: np.ndarray) -> float:
    """Standard deviation of the luma."""
    return float(rgb_to_luma(_as_float(rgb)).std())


def min_filter5(gray: np.ndarray) -> np.ndarray:
    """5x5 minimum of a (H, W) uint8 image: PIL's MinFilter(5) to the last grey level (a minimum
    over the window clipped to the image either way), about 100x faster at 640x480."""
    import cv2

    return cv2.erode(gray, np.ones((5, 5), np.uint8))


def haze(rgb: np.ndarray) -> float:
    """Mean dark channel (min over colour, then a 5x5 min filter): high under haze and fog."""
    # The min of whole grey levels is the same in uint8 as in float (and 4x cheaper).
    dark = rgb.min(axis=2).astype(np.uint8, copy=False)
    return float(min_filter5(dark).astype(np.float32).mean())


def _residual(luma: np.ndarray) -> np.ndarray:
    """Luma minus its 3x3 median: fine structure (noise, specks, streaks) without the scene."""
    return luma - median3x3(luma.astype(np.uint8)).astype(np.float32)


def streaks(rgb: np.ndarray) -> float:
    """Rain streaks are thin slanted lines: energy of horizontal differences of the residual."""
    return float(np.abs(np.diff(_residual(rgb_to_luma(_as_float(rgb))), axis=1)).mean())


def specks(rgb: np.ndarray) -> float:
    """Snow is isolated bright specks: share of pixels more than 40 above their 3x3 median."""
    return float((_residual(rgb_to_luma(_as_float(rgb))) > 40).mean())


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the luma."""
    return float(laplacian(rgb_to_luma(_as_float(rgb))).var())


def noise(rgb: np.ndarray) -> float:
    """Standard deviation of the luma's residual against its 3x3 median."""
    return float(_residual(rgb_to_luma(_as_float(rgb))).std())


def colour_cast(rgb: np.ndarray) -> float:
    """Mean red minus blue, 0-255 units: positive is warm (orange), negative cool (blue)."""
    pixels = _as_float(rgb)
    return float((pixels[..., 0] - pixels[..., 2]).mean())


# One measure per pixel attribute, each of an (H, W, 3) RGB array (uint8, or float32 0-255).
PIXEL_MEASURES: dict[str, Callable[[np.ndarray], float]] = {
    "brightness": brightness,
    "contrast": contrast,
    "haze": haze,
    "streaks": streaks,
    "specks": specks,
    "sharpness": sharpness,
    "noise": noise,
    "colour_cast": colour_cast,
}


def measure_image(rgb: np.ndarray, names: Sequence[str] = IMAGE_ATTRIBUTES) -> dict[str, float]:
    """The named pixel attributes of an RGB array (the luma and its residual computed once)."""
    pixels = _as_float(rgb)
    luma = rgb_to_luma(pixels)
    residual = _residual(luma) if {"streaks", "specks", "noise"} & set(names) else None
    values: dict[str, float] = {}
    for name in names:
        if name == "brightness":
            values[name] = float(luma.mean())
        elif name == "contrast":
            values[name] = float(luma.std())
        elif name == "sharpness":
            values[name] = float(laplacian(luma).var())
        elif name == "streaks":
            assert residual is not None
            values[name] = float(np.abs(np.diff(residual, axis=1)).mean())
        elif name == "specks":
            assert residual is not None
            values[name] = float((residual > 40).mean())
        elif name == "noise":
            assert residual is not None
            values[name] = float(residual.std())
        else:
            values[name] = PIXEL_MEASURES[name](pixels)
    return values


def jpeg_quality(path: str | Path) -> float:
    """The IJG quality (1-100) whose luminance table is nearest the file's; 100 for lossless files."""
    with Image.open(path) as image:
        tables = getattr(image, "quantization", None)
        if image.format != "JPEG" or not tables:
            return 100.0
        table = np.sort(np.asarray(tables[0], dtype=np.float64))
    base = np.sort(_IJG_LUMA)
    errors = []
    for quality in range(1, 101):
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        scaled = np.clip(np.floor((base * scale + 50) / 100), 1, 255)
        errors.append(float(np.abs(scaled - table).sum()))
    return float(np.argmin(errors) + 1)


@lru_cache(maxsize=8192)
def image_attributes(path: str) -> dict[str, float]:
    """Discovery's image attributes of an image file: brightness, contrast, haze (dark channel),
    streak and speck energy, and sharpness (cached by path: files are never rewritten in place)."""
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    return measure_image(rgb, IMAGE_ATTRIBUTES)


def measure_file(path: str | Path, names: Sequence[str]) -> dict[str, float]:
    """Any pixel attributes of an image file, and `jpeg_quality` read from its tables."""
    pixel_names = [n for n in names if n != "jpeg_quality"]
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    values = measure_image(rgb, pixel_names)
    if "jpeg_quality" in names:
        values["jpeg_quality"] = jpeg_quality(path)
    return values


def box_sizes(boxes: np.ndarray, long_side: float) -> np.ndarray:
    """sqrt(w h) of each (N, 4) xyxy box over the image's long side."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return np.sqrt(np.clip(widths, 0, None) * np.clip(heights, 0, None)) / long_side


def max_overlaps(boxes: np.ndarray) -> np.ndarray:
    """Each box's largest IoU with another box of the same image (0 for a lone box)."""
    import supervision as sv

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) < 2:
        return np.zeros(len(boxes))
    ious = sv.box_iou_batch(boxes, boxes)  # discovery's own IoU (float32), to the last bit
    np.fill_diagonal(ious, 0)
    return ious.max(axis=1)
