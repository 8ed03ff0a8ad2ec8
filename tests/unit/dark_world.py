"""A constructed world where darkness is the cause: a detector that reads pixels and misses exactly
the dark objects, and images where dark objects are also small (so size is a rival explanation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image
from scipy import ndimage

from tools.convert import make_detections
from tools.image_filters import rgb_to_luma

SIZE = 128
LIT = (225, 215, 195)
DARK = (44, 42, 38)
# The fake detector's whole rule: an object whose median luma is below this is never found.
DARK_LUMA = 60.0


@dataclass(frozen=True)
class Sample:
    sample_id: str
    path: Path
    boxes: np.ndarray
    labels: np.ndarray


def _draw(root: Path, name: str, background: int, objects: list[tuple[int, tuple]]) -> Sample:
    """Square objects (side, colour) one per quadrant, on a flat grey background."""
    image = np.full((SIZE, SIZE, 3), background, np.uint8)
    boxes = []
    for quadrant, (side, colour) in enumerate(objects):
        cx = 32 + 64 * (quadrant % 2) + (quadrant * 5) % 9 - 4
        cy = 32 + 64 * (quadrant // 2) + (quadrant * 3) % 7 - 3
        x0, y0 = cx - side // 2, cy - side // 2
        image[y0 : y0 + side, x0 : x0 + side] = colour
        boxes.append((x0, y0, x0 + side, y0 + side))
    path = root / f"{name}.png"
    Image.fromarray(image).save(path)
    return Sample(name, path, np.array(boxes, np.float64), np.zeros(len(boxes), np.int64))


def make_dark_world(root: Path) -> list[Sample]:
    """30 bright images of lit objects of three sizes; 10 dark ones, each with three small dark
    objects (the misses) and one lit object (a detected control)."""
    root.mkdir(parents=True, exist_ok=True)
    samples = [
        _draw(root, f"bright{k:02d}", 100 + k, [(10, LIT), (18, LIT), (28, LIT)]) for k in range(30)
    ]
    samples += [
        _draw(root, f"dark{k:02d}", 10 + k % 8, [(10, DARK), (12, DARK), (11, DARK), (18, LIT)])
        for k in range(10)
    ]
    return samples


class DarkMissingDetector:
    """Finds objects as regions unlike the image's median colour, and reports only those whose
    median luma reaches DARK_LUMA: it misses exactly the dark objects, at any size."""

    def __init__(self) -> None:
        self.classes = ["thing"]
        self.calls = 0

    def predict(self, weights: Path, images: Sequence[Path]) -> list[sv.Detections]:
        self.calls += 1
        return [self._one(path) for path in images]

    def _one(self, path: Path) -> sv.Detections:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB")).astype(np.float32)
        background = np.median(rgb.reshape(-1, 3), axis=0)
        regions, _ = ndimage.label(np.abs(rgb - background).max(axis=2) > 12)
        luma = rgb_to_luma(rgb)
        boxes = []
        for label, found in enumerate(ndimage.find_objects(regions), start=1):
            if found is None:
                continue
            inside = regions[found] == label
            if inside.sum() >= 9 and np.median(luma[found][inside]) >= DARK_LUMA:
                rows, cols = found
                boxes.append((cols.start, rows.start, cols.stop, rows.stop))
        detections = make_detections(
            np.array(boxes, np.float64).reshape(-1, 4), np.zeros(len(boxes))
        )
        detections.confidence = np.full(len(boxes), 0.9)
        return detections

    def train(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("a fixed fake: it never trains")

    def embed(self, weights: Path, images: Sequence[Path]) -> np.ndarray:
        raise NotImplementedError("not needed by the counterfactual check")
