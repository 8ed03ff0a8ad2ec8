"""Labelled photographs for the paste generator's tests: scikit-image's sample photographs with
flat-coloured shapes drawn on them as objects, so every object's pixels are known."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data
from PIL import Image

from tools.generator.base import Box, EditSource

# Class -> the colour its objects are drawn in (far from every photograph's own colours).
COLOURS = {"disk": (255, 0, 255), "square": (0, 255, 0)}
PHOTOGRAPHS = ("coffee", "astronaut", "chelsea", "rocket")


def object_pixels(image: np.ndarray, cls: str, tolerance: int = 60) -> np.ndarray:
    """Pixels of `cls`'s colour (within `tolerance` per channel)."""
    colour = np.array(COLOURS[cls], dtype=np.int16)
    return (np.abs(image.astype(np.int16) - colour) <= tolerance).all(axis=2)


def draw_objects(image: np.ndarray, rng: np.random.Generator, count: int) -> list[Box]:
    """`count` disks and squares at random places, not touching; returns their exact boxes."""
    height, width = image.shape[:2]
    boxes: list[Box] = []
    taken = np.zeros((height, width), dtype=bool)
    while len(boxes) < count:
        cls = ("disk", "square")[len(boxes) % 2]
        side = int(rng.integers(24, 64))
        x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
        if taken[max(0, y - 4) : y + side + 4, max(0, x - 4) : x + side + 4].any():
            continue
        taken[y : y + side, x : x + side] = True
        if cls == "disk":
            centre, radius = (x + side // 2, y + side // 2), side // 2
            cv2.circle(image, centre, radius, COLOURS[cls], thickness=-1)
            mask = object_pixels(image[y : y + side + 1, x : x + side + 1], cls, 0)
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            box = (x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1)
        else:
            image[y : y + side, x : x + side] = COLOURS[cls]
            box = (x, y, x + side, y + side)
        boxes.append((float(box[0]), float(box[1]), float(box[2]), float(box[3]), cls))
    return boxes


def labelled_photographs(folder: Path, objects: int = 4, seed: int = 0) -> list[EditSource]:
    """The sample photographs with `objects` shapes each, saved as PNG in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = []
    for name in PHOTOGRAPHS:
        image = np.ascontiguousarray(getattr(skimage.data, name)())
        boxes = draw_objects(image, rng, objects)
        path = folder / f"{name}.png"
        Image.fromarray(image).save(path)
        sources.append(EditSource(name, str(path), boxes))
    return sources
