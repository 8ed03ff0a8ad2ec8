"""Imports a user's labelled images (YOLO folders or COCO json), skipping and reporting bad files."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageOps
from PIL.ExifTags import Base

from storage.datasets import LabeledImage
from tools.convert import YoloLabelError, from_yolo_lines, make_detections

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


# Larger images are refused before they are decoded (a decompression bomb is a few KB on disk).
MAX_PIXELS = 40_000_000
# EXIF orientations that swap width and height (rotated by 90 or 270 degrees).
TRANSPOSED = {5, 6, 7, 8}


def _image_size(path: Path) -> tuple[int, int] | str:
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


def _split_of(relative: Path) -> str:
    for part in relative.parts:
        if part in SPLITS:
            return part
    # No split folder: a stable 60/20/20 assignment by file name.
    bucket = int(hashlib.sha1(str(relative).encode()).hexdigest(), 16) % 10
    return "train" if bucket < 6 else "val" if bucket < 8 else "test"


def _yolo_classes(root: Path, default: Sequence[str]) -> list[str]:
    for name in ("data.yaml", "dataset.yaml"):
        if (root / name).is_file():
            names = (yaml.safe_load((root / name).read_text()) or {}).get("names")
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
    if (root / "classes.txt").is_file():
        return [
            line.strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()
        ]
    return list(default)


def _label_path(root: Path, image: Path) -> Path:
    relative = image.relative_to(root)
    if relative.parts and relative.parts[0] == "images":
        return root / "labels" / Path(*relative.parts[1:]).with_suffix(".txt")
    return image.with_suffix(".txt")


def import_yolo(root: Path, default_classes: Sequence[str]) -> ImportReport:
    report = ImportReport(classes=_yolo_classes(root, default_classes))
    images = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    used_labels: set[Path] = set()
    for image in images:
        label = _label_path(root, image)
        used_labels.add(label)
        size = _image_size(image)
        if isinstance(size, str):
            report.skipped.append((image, size))
            continue
        if not label.is_file():
            report.skipped.append((image, f"no label file (expected {label})"))
            continue
        lines = [line for line in label.read_text().splitlines() if line.strip()]
        if not lines:
            report.skipped.append((label, "empty label file"))
            continue
        try:
            detections = from_yolo_lines(lines, size[0], size[1], len(report.classes))
        except YoloLabelError as error:
            report.skipped.append((label, str(error)))
            continue
        report.images.append(
            LabeledImage(
                image, detections, size[0], size[1], tags=[_split_of(image.relative_to(root))]
            )
        )
    for label in sorted(root.rglob("*.txt")):
        if label.name == "classes.txt" or label in used_labels:
            continue
        report.skipped.append((label, "label file with no image"))
    return report


def import_coco(path: Path, default_classes: Sequence[str]) -> ImportReport:
    json_path = path if path.is_file() else next(iter(sorted(path.glob("*.json"))), None)
    if json_path is None:
        raise ImportError_(f"No COCO json file found in {path}; pass the annotations file.")
    try:
        coco = json.loads(json_path.read_text())
        categories = {c["id"]: c["name"] for c in coco["categories"]}
        records = coco["images"]
        annotations = coco.get("annotations", [])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ImportError_(f"{json_path} is not a COCO annotations file ({error}).") from error
    report = ImportReport(classes=list(dict.fromkeys(categories.values())) or list(default_classes))
    by_image: dict[int, list[dict]] = {}
    for annotation in annotations:
        by_image.setdefault(annotation.get("image_id"), []).append(annotation)
    base = json_path.parent
    for record in records:
        candidates = [base / record["file_name"], base / "images" / record["file_name"]]
        image = next((c for c in candidates if c.is_file()), candidates[0])
        size = _image_size(image) if image.is_file() else "image file does not exist"
        if isinstance(size, str):
            report.skipped.append((image, size))
            continue
        width, height = size
        boxes, class_ids, problem = [], [], None
        for annotation in by_image.get(record["id"], []):
            name = categories.get(annotation.get("category_id"))
            if name is None:
                problem = f"category id {annotation.get('category_id')} is not in the category list"
                break
            x, y, w, h = annotation["bbox"]
            if w <= 0 or h <= 0 or x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
                problem = f"box {annotation['bbox']} is outside the image"
                break
            boxes.append([max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)])
            class_ids.append(report.classes.index(name))
        if problem is not None:
            report.skipped.append((image, problem))
            continue
        detections = make_detections(np.array(boxes).reshape(-1, 4), np.array(class_ids))
        report.images.append(
            LabeledImage(
                image, detections, width, height, tags=[_split_of(Path(record["file_name"]))]
            )
        )
    return report


def import_labelled(path: Path, fmt: str, default_classes: Sequence[str]) -> ImportReport:
    """Import a folder (YOLO) or annotations file (COCO); raise ImportError_ if nothing is usable."""
    if not path.exists():
        raise ImportError_(f"Import path {path} does not exist.")
    if fmt == "yolo":
        if not path.is_dir():
            raise ImportError_(f"A YOLO import needs a folder; {path} is a file.")
        report = import_yolo(path, default_classes)
    elif fmt == "coco":
        report = import_coco(path, default_classes)
    else:
        raise ImportError_(f"Unknown import format '{fmt}'; use yolo or coco.")
    if not report.images:
        raise ImportError_(
            f"No usable labelled image was found in {path} "
            f"({len(report.skipped)} files skipped); check the folder and --format."
        )
    return report
