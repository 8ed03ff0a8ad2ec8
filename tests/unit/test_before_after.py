"""Before/after strips on made images: one column per miss, one scale per column, frames that say
found or missed, nothing written without a miss, and one file however often it is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tools.before_after import (
    BOX,
    FOUND,
    FRAME,
    GAP,
    MISSED,
    TILE,
    BeforeAfter,
    strip_size,
    write_strip,
)


def square(side: int) -> tuple[np.ndarray, np.ndarray]:
    """A 128-pixel grey image with one white square of `side` pixels at its centre, and its box."""
    image = np.full((128, 128, 3), 60, np.uint8)
    start = 64 - side // 2
    image[start : start + side, start : start + side] = 255
    return image, np.array([start, start, start + side, start + side], np.float64)


def box_width(tile: Image.Image) -> int:
    """Width in pixels of the drawn box inside a tile (its yellow columns)."""
    inner = np.asarray(tile)[FRAME:-FRAME, FRAME:-FRAME]
    columns = np.flatnonzero((inner == BOX).all(axis=2).any(axis=0))
    return int(columns[-1] - columns[0] + 1)


def test_a_strip_has_a_column_per_miss_and_frames_what_the_edit_changed(tmp_path: Path) -> None:
    small, small_box = square(10)
    large, large_box = square(20)
    pairs = [
        BeforeAfter(small, small_box, large, large_box, found=True),  # enlarged, then found
        BeforeAfter(small, small_box, small, small_box, found=False),  # unchanged, still missed
    ]
    path = write_strip(pairs, tmp_path / "strip.png")
    assert path == tmp_path / "strip.png"
    strip = Image.open(path).convert("RGB")
    assert strip.size == strip_size(2) == (2 * TILE + GAP, 2 * TILE + GAP)
    assert strip.getpixel((1, TILE + GAP + 1)) == FOUND
    assert strip.getpixel((TILE + GAP + 1, TILE + GAP + 1)) == MISSED

    def tile(column: int, row: int) -> Image.Image:
        x, y = column * (TILE + GAP), row * (TILE + GAP)
        return strip.crop((x, y, x + TILE, y + TILE))

    # One scale per column: the enlarged object is drawn twice as wide below as above.
    assert box_width(tile(0, 1)) == 2 * box_width(tile(0, 0)) - 1
    assert box_width(tile(1, 1)) == box_width(tile(1, 0))


def test_nothing_is_written_without_a_miss(tmp_path: Path) -> None:
    assert write_strip([], tmp_path / "strip.png") is None
    assert list(tmp_path.iterdir()) == []


def test_writing_again_replaces_the_one_file(tmp_path: Path) -> None:
    image, box = square(12)
    pair = BeforeAfter(image, box, image, box, found=False)
    write_strip([pair], tmp_path / "strip.png")
    first = (tmp_path / "strip.png").read_bytes()
    write_strip([pair], tmp_path / "strip.png")
    assert list(tmp_path.iterdir()) == [tmp_path / "strip.png"]
    assert (tmp_path / "strip.png").read_bytes() == first
