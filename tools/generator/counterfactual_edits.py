"""Counterfactual edits of a real image: one attribute moved into a range, every kept box exact.

A hypothesis blames an attribute (dark images, small objects); its counterfactual moves that
attribute into the range where the detector does well, and nothing the boxes say: pixel
attributes by the generator's own edits (tools/image_edits), searched until the attribute
measures in range; box size by cropping a window around the object and rescaling it to the
image's size, the boxes mapped by the same affine map as the pixels. A placebo is the same kind
of pixel edit on an attribute the hypothesis does not blame (`PLACEBOS`, in order of preference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from tools.image_attributes import PIXEL_MEASURES, box_sizes
from tools.image_edit_ops import EDITS
from tools.image_edits import fit_edit

# Attributes a counterfactual can remove: every pixel edit, and small boxes (enlarged).
PIXEL_FACTORS = tuple(EDITS)
SIZE_FACTOR = "box_size"
EDITABLE = (*PIXEL_FACTORS, SIZE_FACTOR)
# Placebo attributes, first choice first: sharpness moves no tone (a brightness placebo that
# stretched contrast or added haze would lighten dark objects, the very cause it must not
# touch); then the tone attributes, for hypotheses that blame sharpness.
PLACEBOS = ("sharpness", "contrast", "haze", "brightness")
# Enlarging more than this upsamples a handful of pixels into a blur no camera makes.
MAX_ZOOM = 4.0
# The demo world's scene conditions read as the measured attribute each one moves (as the
# offline analyst reads them): lighting moves brightness, fog haze, rain streaks, snow specks,
# distance box size. Crowding is overlap, which only repainting occluders away could remove.
SCENE_FACTORS: dict[tuple[str, str], tuple[str, str]] = {
    ("lighting", "night"): ("brightness", "low"),
    ("lighting", "dusk"): ("brightness", "low"),
    ("weather", "fog"): ("haze", "high"),
    ("weather", "rain"): ("streaks", "high"),
    ("weather", "snow"): ("specks", "high"),
    ("distance", "far"): ("box_size", "low"),
    ("distance", "near"): ("box_size", "high"),
    ("crowding", "dense"): ("overlap", "high"),
}


@dataclass(frozen=True)
class EditedImage:
    """An edited image with the boxes that stay exact in it (`kept`: their original indices)."""

    image: np.ndarray
    boxes: np.ndarray
    kept: np.ndarray
    attribute: str
    before: float
    after: float
    landed: bool


def move_pixel_attribute(
    image: np.ndarray, boxes: np.ndarray, attribute: str, target: tuple[float, float], seed: int = 0
) -> EditedImage:
    """The image with pixel attribute `attribute` moved into `target` (discovery's units),
    measured back on the result; pixels change, boxes do not."""
    if attribute not in PIXEL_FACTORS:
        raise ValueError(f"{attribute} is not a pixel attribute an edit can move")
    before = PIXEL_MEASURES[attribute](image)
    edited, fit = fit_edit(image, attribute, target[0], target[1], seed)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return EditedImage(
        image=edited,
        boxes=boxes.copy(),
        kept=np.arange(len(boxes)),
        attribute=attribute,
        before=before,
        after=fit.value,
        landed=fit.landed,
    )


def enlarge_around(
    image: np.ndarray, boxes: np.ndarray, focus: int, target: tuple[float, float]
) -> EditedImage:
    """A window around box `focus` rescaled to the whole image, so that its box size (sqrt of
    its area over the long side) lands in `target`: the same object, nearer. Boxes map by the
    window's affine map; those the window cuts are dropped (no longer exact)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    height, width = image.shape[:2]
    long_side = max(height, width)
    x0, y0, x1, y1 = boxes[focus]
    before = float(box_sizes(boxes[focus : focus + 1], long_side)[0])
    aim = (target[0] + target[1]) / 2
    zoom = aim / before if before > 0 else 1.0
    # The window must hold the whole object, and an object already big enough is left alone.
    zoom = float(np.clip(zoom, 1.0, min(MAX_ZOOM, width / (x1 - x0), height / (y1 - y0))))
    window_w, window_h = width / zoom, height / zoom
    left = float(np.clip((x0 + x1) / 2 - window_w / 2, 0, width - window_w))
    top = float(np.clip((y0 + y1) / 2 - window_h / 2, 0, height - window_h))
    pixels = Image.fromarray(image).transform(
        (width, height),
        Image.Transform.EXTENT,
        (left, top, left + window_w, top + window_h),
        resample=Image.Resampling.BILINEAR,
    )
    inside = (
        (boxes[:, 0] >= left - 1e-6)
        & (boxes[:, 1] >= top - 1e-6)
        & (boxes[:, 2] <= left + window_w + 1e-6)
        & (boxes[:, 3] <= top + window_h + 1e-6)
    )
    kept = np.where(inside)[0]
    moved = (boxes[kept] - [left, top, left, top]) * [zoom, zoom, zoom, zoom]
    after = float(box_sizes(moved[kept == focus], long_side)[0])
    return EditedImage(
        image=np.asarray(pixels),
        boxes=moved,
        kept=kept,
        attribute=SIZE_FACTOR,
        before=before,
        after=after,
        # Landed when no longer small: an object already past the range is left as it is.
        landed=bool(after >= target[0]),
    )


def remove_factor(
    image: np.ndarray,
    boxes: np.ndarray,
    attribute: str,
    target: tuple[float, float],
    focus: int = 0,
    seed: int = 0,
) -> EditedImage:
    """`attribute` moved into `target`: a pixel edit of the whole image, or box `focus` enlarged."""
    if attribute == SIZE_FACTOR:
        return enlarge_around(image, boxes, focus, target)
    return move_pixel_attribute(image, boxes, attribute, target, seed)
