"""A corpus of awkward files a user's YOLO folder may hold: each is imported correctly (pixels
the boxes were drawn on, 8-bit RGB) or skipped once with its path and reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from storage.importers import ORIENTATION, copy_image, import_labelled

CLASSES = ["car", "person", "sign"]
BOX = "0 0.5 0.5 0.4 0.4\n"


def _write(root: Path, split: str, name: str, image: Image.Image, label: str = BOX, **save) -> Path:
    path = root / "images" / split / name
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **save)
    label_path = root / "labels" / split / Path(name).with_suffix(".txt")
    label_path.parent.mkdir(parents=True, exist_ok=True)
    label_path.write_bytes(label.encode())
    return path


def _corpus(root: Path) -> dict[str, str]:
    """Writes the corpus; returns each file's kind -> what must happen to it."""
    rgb = Image.fromarray(np.full((24, 32, 3), 90, np.uint8))
    _write(root, "train", "gray.png", rgb.convert("L"))
    _write(root, "train", "rgba.png", rgb.convert("RGBA"))
    sixteen = Image.fromarray(np.full((24, 32), 40000, np.uint16))
    _write(root, "train", "sixteen.png", sixteen)
    _write(root, "train", "cmyk.jpg", rgb.convert("CMYK"))
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored 32 x 24, shown rotated: 24 x 32
    _write(root, "train", "rotated.jpg", rgb, "0 0.25 0.5 0.3 0.2\n", exif=exif)
    _write(root, "train", "bomb.png", Image.new("1", (8000, 6000)))
    empty = root / "images" / "train" / "zero.png"
    empty.write_bytes(b"")
    (root / "labels" / "train" / "zero.txt").write_text(BOX)
    _write(root, "train", "straße cam 1.png", rgb)
    _write(root, "train", "nan.png", rgb, "0 nan 0.5 0.2 0.2\n")
    _write(root, "train", "negative.png", rgb, "0 0.5 0.5 -0.2 0.2\n")
    _write(root, "train", "columns.png", rgb, "0 0.5 0.5 0.2 0.2 0.9\n")
    _write(root, "train", "windows.png", rgb, "0 0.5 0.5 0.2 0.2\r\n1 0.3 0.3 0.1 0.1\r\n")
    _write(root, "train", "twice.png", rgb)
    _write(root, "val", "twice.png", rgb)
    return {
        "gray.png": "imported",
        "rgba.png": "imported",
        "sixteen.png": "imported",
        "cmyk.jpg": "imported",
        "rotated.jpg": "imported",
        "bomb.png": "too large",
        "zero.png": "empty file",
        "straße cam 1.png": "imported",
        "nan.txt": "not a finite number",
        "negative.txt": "outside the image",
        "columns.txt": "6 fields",
        "windows.png": "imported",
        "twice.png": "imported",
    }


def test_every_kind_is_imported_or_skipped_once_with_its_reason(tmp_path: Path) -> None:
    expected = _corpus(tmp_path / "data")
    report = import_labelled(tmp_path / "data", "yolo", CLASSES)
    imported = [i.path.name for i in report.images]
    skipped = {path.name: reason for path, reason in report.skipped}
    assert len(skipped) == len(report.skipped)  # each file once
    outcome = {}
    for name, what in expected.items():
        if what == "imported":
            assert name in imported, (name, skipped.get(name))
            outcome[name] = "imported"
        else:
            assert what in skipped[name], (name, skipped.get(name))
            outcome[name] = f"skipped: {skipped[name][:60]}"
    # The same name in two folders: both come in, each under its own split.
    assert sorted(i.tags[0] for i in report.images if i.path.name == "twice.png") == [
        "train",
        "val",
    ]
    by_name = {i.path.name: i for i in report.images}
    assert len(by_name["windows.png"].detections) == 2
    # The rotated image is as wide and high as it is shown, and so is its box.
    rotated = by_name["rotated.jpg"]
    assert (rotated.width, rotated.height) == (24, 32)
    np.testing.assert_allclose(rotated.detections.xyxy, [[2.4, 12.8, 9.6, 19.2]], atol=1e-4)
    print("\n".join(f"{k}: {v}" for k, v in outcome.items()))  # the table in the note


def test_copies_are_8_bit_rgb_in_the_orientation_the_labels_describe(tmp_path: Path) -> None:
    _corpus(tmp_path / "data")
    report = import_labelled(tmp_path / "data", "yolo", CLASSES)
    out = tmp_path / "workspace"
    out.mkdir()
    for k, image in enumerate(report.images):
        copied = copy_image(image.path, out / f"{k:03d}_{image.path.name}")
        with Image.open(copied) as read:
            assert read.mode == "RGB" and read.size == (image.width, image.height), image.path
            pixels = np.asarray(read)
        if image.path.name == "sixteen.png":
            assert pixels.max() == 255  # the 16-bit range scaled, not clipped to white
        if image.path.name == "straße cam 1.png":
            assert copied.read_bytes() == image.path.read_bytes()  # plain RGB: copied as is
