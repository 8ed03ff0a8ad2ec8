"""What every importer shares: the report, image checks and copies, and the split of a file."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from PIL.ExifTags import Base

from storage.datasets import LabeledImage

ORIENTATION = Base.Orientation.value
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
SPLITS = ("train", "val", "test")


class ImportError_(ValueError):
    """Nothing usable could be imported; the message is one sentence for the user."""


@dataclass
class ImportReport:
    """What was imported and what was skipped, with the reason for each skipped file."""

    images: list[LabeledImage] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    notes: list[str] = field(
        default_factory=list
    )  # what was decided for the user, one sentence each


# Larger images are refused before they are decoded (a decompression bomb is a few KB on disk).
MAX_PIXELS = 40_000_000
# EXIF orientations that swap width and height (rotated by 90 or 270 degrees).
TRANSPOSED = {5, 6, 7, 8}


def image_size(path: Path) -> tuple[int, int] | str:
    """(width, height) of a readable image as the detector sees it (EXIF orientation applied),
    or the reason it cannot be used."""
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                return f"too large ({width} x {height} pixels; at most {MAX_PIXELS:,})"
            image.load()  # decodes every byte: catches truncated files that `verify` misses
            if image.getexif().get(ORIENTATION, 1) in TRANSPOSED:
                width, height = height, width
            return width, height
    except Exception as error:  # PIL raises many types for broken files (and bombs)
        return f"not a readable image ({type(error).__name__}: {error})"


def needs_normalising(path: Path) -> bool:
    """Whether an image must be rewritten as 8-bit RGB with its EXIF orientation applied, so
    that every reader (FiftyOne, the detector, the analyst) sees the same pixels the boxes
    were drawn on: grayscale, palette, RGBA, 16-bit, CMYK, or rotated by EXIF."""
    with Image.open(path) as image:
        return image.mode != "RGB" or image.getexif().get(ORIENTATION, 1) != 1


def copy_image(source: Path, target: Path) -> Path:
    """Copy an imported image into the workspace: byte for byte when it is plain 8-bit RGB,
    otherwise rewritten as PNG (target's suffix becomes .png) in the orientation its labels
    describe."""
    if not needs_normalising(source):
        shutil.copy2(source, target)
        return target
    target = target.with_suffix(".png")
    with Image.open(source) as image:
        upright = ImageOps.exif_transpose(image)
        if upright.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit: scale the full range into 8 bits (PIL's convert would clip at 255).
            pixels = np.asarray(upright, dtype=np.float64)
            top = pixels.max() or 1.0
            upright = Image.fromarray((pixels / top * 255).round().astype(np.uint8))
        upright.convert("RGB").save(target)
    return target


def split_of(relative: Path) -> str:
    """The split a folder in the file's path names (train, val, test), else its hash split."""
    for part in relative.parts:
        if part in SPLITS:
            return part
    return hash_split(str(relative))


def hash_split(name: str) -> str:
    """A stable 60/20/20 assignment by name, for data that names no split."""
    bucket = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 6 else "val" if bucket < 8 else "test"
