"""Before/after strips: an object cropped from an image and from its edit, side by side, for a reviewer.

One column per object: the original crop on the top row, the edited crop below it, the object's
box drawn in both. The edited tile's frame says what the detector did after the edit: green
found, red still missed. Both crops are squares of the same side in pixels around their box's
centre, so the two rows share one scale: a size edit (which moves and enlarges the box) shows
the object larger below, a pixel edit the same object changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tools.files import written_whole

TILE = 96  # pixels on a side of one tile, frame included
FRAME = 3  # frame width: neutral on the originals, green or red on the edits
GAP = 2  # between tiles
CONTEXT = 2.5  # the crop's side, in the box's longer sides: the object and its surroundings
MIN_CROP = 24  # pixels: a tiny box still shows some of its surroundings
FOUND = (40, 200, 60)
MISSED = (220, 40, 40)
NEUTRAL = (110, 110, 110)
BOX = (255, 210, 0)
BACKGROUND = (30, 30, 30)
PAD = (90, 90, 90)  # outside the image
# How to read a strip, wherever one is shown.
LEGEND = (
    "originals above, after the edit below, framed green where the detector found the object "
    "after the edit and red where it still missed it"
)


@dataclass(frozen=True)
class BeforeAfter:
    """One object in its original image and in the edited image, with its box in each (xyxy
    pixels) and whether the detector found it after the edit."""

    before: np.ndarray
    before_box: np.ndarray
    after: np.ndarray
    after_box: np.ndarray
    found: bool


def crop_side(*boxes: np.ndarray) -> int:
    """The side in pixels of a crop that shows each of `boxes` with its surroundings."""
    longest = max(float(max(box[2] - box[0], box[3] - box[1])) for box in boxes)
    return max(MIN_CROP, round(CONTEXT * longest))


def crop_tile(
    image: np.ndarray, box: np.ndarray, side: int, frame: tuple[int, int, int]
) -> Image.Image:
    """The `side`-pixel square around `box` (padded grey where it leaves the image) scaled to
    a `TILE`-pixel tile, the box drawn in yellow, framed in `frame`."""
    x0, y0, x1, y1 = (float(v) for v in box)
    left, top = round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2)
    source = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    window = Image.new("RGB", (side, side), PAD)
    inside = (
        max(0, left),
        max(0, top),
        min(source.width, left + side),
        min(source.height, top + side),
    )
    if inside[2] > inside[0] and inside[3] > inside[1]:
        window.paste(source.crop(inside), (inside[0] - left, inside[1] - top))
    inner = TILE - 2 * FRAME
    scale = inner / side
    # Pixels enlarged as they are (an edit's blur or noise stays visible), reduced by averaging.
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.BOX
    window = window.resize((inner, inner), resample)
    ImageDraw.Draw(window).rectangle(
        [(x0 - left) * scale, (y0 - top) * scale, (x1 - left) * scale, (y1 - top) * scale],
        outline=BOX,
        width=1,
    )
    tile = Image.new("RGB", (TILE, TILE), frame)
    tile.paste(window, (FRAME, FRAME))
    return tile


def strip_size(pairs: int) -> tuple[int, int]:
    """(width, height) in pixels of a strip of `pairs` columns."""
    return pairs * TILE + (pairs - 1) * GAP, 2 * TILE + GAP


def write_strip(pairs: Sequence[BeforeAfter], path: Path) -> Path | None:
    """The strip of `pairs` written as a PNG at `path` (replaced whole: a rerun leaves one
    file, and a kill mid-write no half image); None, and nothing written, without pairs."""
    if not pairs:
        return None
    strip = Image.new("RGB", strip_size(len(pairs)), BACKGROUND)
    for column, pair in enumerate(pairs):
        x = column * (TILE + GAP)
        side = crop_side(pair.before_box, pair.after_box)
        strip.paste(crop_tile(pair.before, pair.before_box, side, NEUTRAL), (x, 0))
        frame = FOUND if pair.found else MISSED
        after = crop_tile(pair.after, pair.after_box, side, frame)
        strip.paste(after, (x, TILE + GAP))
    with written_whole(path) as partial:
        strip.save(partial, format="PNG")
    return path
