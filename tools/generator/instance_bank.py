"""The instance bank: the train split's labelled objects, cut out with GrabCut masks cached beside it.

Only train images may be written into a bank (the planner passes train sources only): objects of
`val` or `test` pasted into training images would leak what the detector is judged on into what
it learns from.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from tools.files import write_text_whole, written_whole
from tools.generator.base import Box, EditSource

BANK_VERSION = 1
# GrabCut models colours from the pixels it is given: a box narrower than this gets an ellipse.
MIN_GRABCUT_SIDE = 10
GRABCUT_ITERATIONS = 4
# A GrabCut mask is taken only if it fills this share of its box and spans this share of its
# width and height; else it degenerated (a speck, or nothing where the object's neighbours
# share its colours). Lenient, because labelled boxes may be loose: BCCD's platelet boxes are
# about twice the platelet's side.
MIN_FILL = 0.1
MIN_SPAN = 0.35
# Part of every cached mask's name: masks made by other rules are not reused.
MASK_RULES = f"grabcut{GRABCUT_ITERATIONS}-fill{MIN_FILL}-span{MIN_SPAN}"


@dataclass(frozen=True)
class Instance:
    """One labelled object of a train image."""

    sample_id: str
    path: str
    box: tuple[float, float, float, float]
    cls: str
    width: int
    height: int

    @property
    def relative_size(self) -> float:
        """sqrt(w h) of its box over its image's long side (discovery's box size)."""
        x0, y0, x1, y1 = self.box
        return math.sqrt(max(x1 - x0, 0) * max(y1 - y0, 0)) / max(self.width, self.height)

    @property
    def key(self) -> str:
        return hashlib.sha1(f"{self.path}|{self.box}|{MASK_RULES}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Background:
    """A train image objects may be pasted onto, with its labelled boxes."""

    sample_id: str
    path: str
    width: int
    height: int
    boxes: list[Box]


@dataclass(frozen=True)
class Cutout:
    """An object's pixels (its box's pixel rectangle) and which of them are the object."""

    pixels: np.ndarray  # (h, w, 3) uint8
    mask: np.ndarray  # (h, w) bool
    method: str  # "grabcut" or "ellipse"


def write_instance_bank(path: Path, sources: Sequence[EditSource]) -> int:
    """Write the bank of `sources` (train images only) to `path`; returns the objects it holds.
    Boxes under 2 pixels a side are left out (nothing to cut)."""
    images, instances = [], []
    for source in sources:
        with Image.open(source.path) as image:
            width, height = image.size
        boxes = [[float(v) for v in b[:4]] + [str(b[4])] for b in source.boxes]
        images.append(
            {
                "sample_id": source.sample_id,
                "path": str(source.path),
                "width": width,
                "height": height,
                "boxes": boxes,
            }
        )
        for x0, y0, x1, y1, cls in source.boxes:
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                instances.append(
                    {
                        "sample_id": source.sample_id,
                        "path": str(source.path),
                        "box": [float(x0), float(y0), float(x1), float(y1)],
                        "class": str(cls),
                        "width": width,
                        "height": height,
                    }
                )
    bank = {"version": BANK_VERSION, "images": images, "instances": instances}
    write_text_whole(path, json.dumps(bank))
    return len(instances)


@lru_cache(maxsize=32)
def _read_rgb(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def ellipse_mask(height: int, width: int) -> np.ndarray:
    """The ellipse inscribed in an h x w box: its tight box is the box."""
    ys = (np.arange(height) + 0.5 - height / 2) / (height / 2)
    xs = (np.arange(width) + 0.5 - width / 2) / (width / 2)
    mask = ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
    mask[height // 2, :] = True  # reach the box's sides even when rounding would miss them
    mask[:, width // 2] = True
    return mask


def _largest_filled(mask: np.ndarray) -> np.ndarray:
    """The largest connected part of a mask with its holes filled (a cell's pale centre is still
    the cell)."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(mask.shape, dtype=np.uint8)
    if contours:
        cv2.drawContours(filled, [max(contours, key=cv2.contourArea)], -1, 1, thickness=-1)
    return filled.astype(bool)


def grabcut_mask(image: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray | None:
    """GrabCut's object inside pixel rectangle (x0, y0, x1, y1) of `image`, initialised with the
    rectangle (the image around it is the background model); None when it degenerates."""
    import cv2

    x0, y0, x1, y1 = rect
    width, height = x1 - x0, y1 - y0
    if min(width, height) < MIN_GRABCUT_SIDE:
        return None
    margin = max(4, round(0.15 * max(width, height)))
    left, top = max(0, x0 - margin), max(0, y0 - margin)
    right, bottom = min(image.shape[1], x1 + margin), min(image.shape[0], y1 + margin)
    region = np.ascontiguousarray(image[top:bottom, left:right, ::-1])  # OpenCV wants BGR
    labels = np.zeros(region.shape[:2], dtype=np.uint8)
    cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means: the same mask every time
    try:
        cv2.grabCut(
            region,
            labels,
            (x0 - left, y0 - top, width, height),
            np.zeros((1, 65), np.float64),
            np.zeros((1, 65), np.float64),
            GRABCUT_ITERATIONS,
            cv2.GC_INIT_WITH_RECT,
        )
    except cv2.error:  # no background pixels around the box, or a flat region
        return None
    inside = labels[y0 - top : y1 - top, x0 - left : x1 - left]
    mask = _largest_filled((inside == cv2.GC_FGD) | (inside == cv2.GC_PR_FGD))
    if not mask.any() or mask.mean() < MIN_FILL:
        return None
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if (rows[-1] - rows[0] + 1) < MIN_SPAN * height or (cols[-1] - cols[0] + 1) < MIN_SPAN * width:
        return None
    return mask


def pixel_rect(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """The pixels a float box touches, clipped to the image: (x0, y0, x1, y1), end exclusive."""
    x0, y0, x1, y1 = box[:4]
    return (
        max(0, math.floor(x0)),
        max(0, math.floor(y0)),
        min(width, math.ceil(x1)),
        min(height, math.ceil(y1)),
    )


class InstanceBank:
    """A bank file's train images and objects; masks are made on first use and kept on disk in
    `<bank>.masks/`, so each object is segmented once."""

    def __init__(self, path: Path) -> None:
        content = json.loads(path.read_text())
        if content.get("version") != BANK_VERSION:
            raise ValueError(f"instance bank {path} has version {content.get('version')}")
        self.path = path
        self.mask_dir = path.with_name(path.name + ".masks")
        self.instances = [
            Instance(
                i["sample_id"], i["path"], tuple(i["box"]), i["class"], i["width"], i["height"]
            )
            for i in content["instances"]
        ]
        self.backgrounds = [
            Background(
                b["sample_id"],
                b["path"],
                b["width"],
                b["height"],
                [(x0, y0, x1, y1, c) for x0, y0, x1, y1, c in b["boxes"]],
            )
            for b in content["images"]
        ]

    def of_class(self, cls: str) -> list[Instance]:
        return [i for i in self.instances if i.cls == cls]

    def cutout(self, instance: Instance) -> Cutout:
        """The object's pixels and mask (GrabCut, or the inscribed ellipse where it degenerates)."""
        image = _read_rgb(instance.path)
        x0, y0, x1, y1 = pixel_rect(instance.box, image.shape[1], image.shape[0])
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise ValueError(f"object {instance.box} lies outside its image {instance.path}")
        pixels = image[y0:y1, x0:x1]
        cached = self.mask_dir / f"{instance.key}.png"
        if cached.is_file():
            with Image.open(cached) as stored:
                values = np.asarray(stored)
            return Cutout(pixels, values > 0, "grabcut" if values.max() == 255 else "ellipse")
        mask = grabcut_mask(image, (x0, y0, x1, y1))
        method = "grabcut"
        if mask is None:
            mask, method = ellipse_mask(y1 - y0, x1 - x0), "ellipse"
        # 255 marks a GrabCut mask, 128 an ellipse: the cache remembers which it was.
        with written_whole(cached) as partial:
            Image.fromarray(mask.astype(np.uint8) * (255 if method == "grabcut" else 128)).save(
                partial
            )
        return Cutout(pixels, mask, method)
