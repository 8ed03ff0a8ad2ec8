"""The detector's image size for imported photographs, chosen from the images and their smallest objects.

The rule: the smallest size (a multiple of 32) at which the 10th-percentile object of the class
with the smallest objects keeps a shorter side of at least 16 px once each image's long side is
resized to it; at least 160, at most the images' median long side (no enlarging beyond one
stride) and at most 192 for CPU training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from storage.datasets import LabeledImage
from tools.convert import class_ids

# Two cells of YOLOv8's finest grid (stride 8): its assigner only takes anchor points whose
# centres fall inside a box, and a box narrower than two cells may hold a single one.
MIN_OBJECT_PX = 16
PERCENTILE = 10  # of each class's objects, so that a rare small class is not outvoted
SMALLEST = 160  # the demo world's size; below it the network's deepest grid is 5 x 5 cells
# Training cost grows with the square of the size: 320 is 4x the 160 the CPU recipe was
# measured at. On BCCD (204 train images) an epoch at 320 took 35-60 s on 2 busy cores, so a
# cycle's fine-tune ran past 8 minutes; 192 keeps a cycle within minutes. With a GPU, set
# detector.imgsz higher by hand.
CPU_CAP = 192
STRIDE = 32  # ultralytics rounds sizes to its largest stride


@dataclass(frozen=True)
class ImageSizeChoice:
    """The chosen image size and the one line that says why."""

    imgsz: int
    reason: str


def _round_up(value: float) -> int:
    return max(STRIDE, math.ceil(value / STRIDE) * STRIDE)


def choose_image_size(images: Sequence[LabeledImage], classes: Sequence[str]) -> ImageSizeChoice:
    """The image size the rule above picks for `images` (boxes in pixels, class ids into `classes`)."""
    long_sides = np.array([max(i.width, i.height) for i in images], dtype=float)
    median_side = int(np.median(long_sides)) if len(long_sides) else SMALLEST
    upper = min(CPU_CAP, _round_up(median_side))
    lower = min(SMALLEST, upper)
    # Each object's shorter side as a share of its image's long side: what survives resizing.
    shares: dict[int, list[float]] = {}
    for image, side in zip(images, long_sides, strict=True):
        boxes = image.detections.xyxy
        shorter = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / side
        for class_id, share in zip(class_ids(image.detections), shorter, strict=True):
            shares.setdefault(int(class_id), []).append(float(share))
    if not shares:
        return ImageSizeChoice(lower, f"image size {lower}: no objects to size it by")
    small = {c: float(np.percentile(v, PERCENTILE)) for c, v in shares.items()}
    smallest = min(small, key=lambda c: small[c])
    share = small[smallest]
    wanted = _round_up(MIN_OBJECT_PX / share) if share > 0 else upper
    imgsz = min(max(wanted, lower), upper)
    if wanted > upper:
        why = (
            f"{wanted} would keep {MIN_OBJECT_PX}; capped at {CPU_CAP} for CPU training"
            if upper == CPU_CAP
            else f"{wanted} would keep {MIN_OBJECT_PX}; the images are not enlarged past their size"
        )
    elif wanted < lower:
        why = f"at least {MIN_OBJECT_PX} wanted; {lower} is the smallest size used"
    else:
        why = f"the smallest size that keeps at least {MIN_OBJECT_PX}"
    name = classes[smallest] if smallest < len(classes) else str(smallest)
    return ImageSizeChoice(
        imgsz,
        f"image size {imgsz}: the 10th-percentile {name} object is {share * median_side:.0f} px "
        f"at {median_side}; {imgsz} keeps it at {share * imgsz:.0f} px ({why})",
    )
