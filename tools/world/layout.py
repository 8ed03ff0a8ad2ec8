"""Layout edits that honour a request's distance and crowding: a real image's boxes rescaled about
the vanishing point and crowded with occluders, every box moved by the same map as the pixels."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from tools.vocabulary import DENSE_OBJECTS, DENSE_OVERLAP

Box = tuple[float, float, float, float, str]  # x0, y0, x1, y1 (pixels) and class name

# Median box size (square root of the box's area over the image side) each distance is moved to,
# well inside the bands the field estimates read distance by (far below 0.12, near above 0.28).
DISTANCE_SIZE = {"far": 0.085, "mid": 0.19, "near": 0.34}
DISTANCE_BAND = {"far": (0.0, 0.12), "mid": (0.12, 0.28), "near": (0.28, float("inf"))}
# Where the horizon (the vanishing point's height) sits when an image does not say: the middle
# of the demo world's range (0.32-0.5 of the image height from the top).
DEFAULT_HORIZON = 0.42
# Width over height of an added occluder's box, before the renderer draws its true shape.
ASPECT = {"car": 2.0, "person": 0.45, "sign": 0.5}
# Cars are wide and low: a class's height at one distance, as a share of a person's.
CLASS_HEIGHT_SCALE = {"car": 0.62, "person": 1.0, "sign": 0.85}
DENSE_COUNT = (3, 6)  # objects in a crowded layout, as the world draws them


class Affine(NamedTuple):
    """x' = left + sx * x, y' = top + sy * y: one map for an image's pixels and its boxes."""

    sx: float
    sy: float
    left: float
    top: float

    def box(self, box: Box) -> Box:
        x0, y0, x1, y1, cls = box
        return (
            self.left + self.sx * x0,
            self.top + self.sy * y0,
            self.left + self.sx * x1,
            self.top + self.sy * y1,
            cls,
        )


def box_size(box: Box, side: float) -> float:
    """A box's size as the field estimates read it: square root of its area over the image side."""
    x0, y0, x1, y1, _ = box
    return float(np.sqrt(max(x1 - x0, 0.0) * max(y1 - y0, 0.0)) / side)


def distance_factor(boxes: list[Box], distance: str, side: float) -> float:
    """The scale that moves the layout to `distance` (its median box size to that distance's),
    1 where the layout already reads as that distance or no distance is asked for."""
    if not boxes or distance not in DISTANCE_BAND:
        return 1.0
    median = float(np.median([box_size(b, side) for b in boxes]))
    low, high = DISTANCE_BAND[distance]
    if low <= median < high or median <= 0:
        return 1.0
    return DISTANCE_SIZE[distance] / median


def about(factor: float, anchor: tuple[float, float]) -> Affine:
    """Scaling by `factor` about `anchor`: about the vanishing point, the same scene farther away."""
    ax, ay = anchor
    return Affine(factor, factor, ax * (1 - factor), ay * (1 - factor))


def largest_in_frame(boxes: list[Box], anchor: tuple[float, float], side: float) -> float:
    """The largest scale about `anchor` that keeps every box inside the image: nearer than that,
    objects would leave the frame and an edit would cut them."""
    limit = float("inf")
    for x0, y0, x1, y1, _ in boxes:
        for low, high, centre in ((x0, x1, anchor[0]), (y0, y1, anchor[1])):
            if high > centre:
                limit = min(limit, (side - centre) / (high - centre))
            if low < centre:
                limit = min(limit, centre / (centre - low))
    return limit


def is_crowded(boxes: list[Box]) -> bool:
    """Crowded as the field estimates read it: many objects, or two that overlap."""
    if len(boxes) >= DENSE_OBJECTS:
        return True
    return any(_iou(a, b) > DENSE_OVERLAP for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def add_occluders(boxes: list[Box], rng: np.random.Generator, side: float) -> list[Box]:
    """The layout with objects added in front of its own, each overlapping the one it stands
    beside, up to a crowd's count; the objects already there keep their boxes. Objects too
    small to stand beside (no area) get none."""
    neighbours = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
    if not neighbours or len(boxes) >= DENSE_OBJECTS:
        return list(boxes)
    out = list(boxes)
    target = int(rng.integers(max(DENSE_COUNT[0], len(boxes) + 1), DENSE_COUNT[1] + 1))
    for _ in range(4 * DENSE_COUNT[1]):  # a few draws miss their neighbour: bounded retries
        if len(out) >= target:
            break
        x0, y0, x1, y1, beside = neighbours[int(rng.integers(len(neighbours)))]
        cls = str(rng.choice(list(ASPECT)))
        # As tall as its class stands at the neighbour's distance.
        scale = CLASS_HEIGHT_SCALE[cls] / CLASS_HEIGHT_SCALE.get(beside, 1.0)
        height = (y1 - y0) * scale * float(rng.uniform(0.9, 1.15))
        width = height * ASPECT[cls]
        # A step nearer the camera (lower in the image) and partly aside: drawn later, so it
        # hides part of the object it stands beside.
        bottom = min(side, y1 + float(rng.uniform(0.01, 0.05)) * side)
        shift = float(rng.uniform(0.2, 0.5)) * (x1 - x0 + width) / 2
        centre = (x0 + x1) / 2 + float(rng.choice([-1, 1])) * shift
        occluder = (
            max(0.0, centre - width / 2),
            max(0.0, bottom - height),
            min(side, centre + width / 2),
            bottom,
            cls,
        )
        if _iou(occluder, (x0, y0, x1, y1, beside)) > DENSE_OVERLAP:
            out.append(occluder)
    return out


def fit_layout(
    boxes: list[Box], conditions: dict[str, str], side: float, horizon: float, seed: int
) -> list[Box]:
    """`boxes` moved towards the requested distance (scaled about the vanishing point at
    `horizon`, pixels from the top; no nearer than keeps every box in the frame) and, for a
    crowded request, joined by occluders. A crowded layout is not thinned for a sparse request."""
    anchor = (side / 2, horizon)
    factor = distance_factor(boxes, conditions.get("distance", ""), side)
    if factor > 1:
        factor = min(factor, largest_in_frame(boxes, anchor, side))
    moved = [about(factor, anchor).box(b) for b in boxes] if factor != 1 else boxes
    if conditions.get("crowding") == "dense" and not is_crowded(moved):
        moved = add_occluders(moved, np.random.default_rng(seed), side)
    return moved


def shrink_image(
    image: Image.Image, factor: float, horizon: float = DEFAULT_HORIZON
) -> tuple[Image.Image, Affine]:
    """A real image shrunk about its vanishing point (`horizon`: its height as a share of the
    image), the same scene farther away, onto a canvas of its own size; the border is filled
    with the image's median colour for a generator to repaint (a blur of the image would leave
    ghosts of its objects there, unlabelled). Returned with the map its boxes follow, read off
    the rounded pixel sizes so that boxes stay exact."""
    if not 0 < factor <= 1:
        raise ValueError(f"an image can be shrunk, not enlarged (factor {factor})")
    if not 0 <= horizon <= 1:
        raise ValueError(f"the horizon is a share of the image height (got {horizon})")
    width, height = image.size
    small = image.resize((max(1, round(width * factor)), max(1, round(height * factor))))
    sx, sy = small.width / width, small.height / height
    left, top = round(width / 2 * (1 - sx)), round(horizon * height * (1 - sy))
    median = np.median(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)
    canvas = Image.new("RGB", image.size, tuple(int(c) for c in median))
    canvas.paste(small, (left, top))
    return canvas, Affine(sx, sy, float(left), float(top))


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
