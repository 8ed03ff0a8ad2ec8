"""YOLO folders: images with one label file each (class x y w h, relative), classes from data.yaml."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from storage.datasets import LabeledImage
from storage.importers.files import IMAGE_SUFFIXES, ImportReport, image_size, split_of
from tools.convert import YoloLabelError, from_yolo_lines


def _yolo_classes(root: Path) -> list[str] | None:
    """The class names the folder gives (data.yaml, dataset.yaml or classes.txt), if any."""
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
    return None


def _label_path(root: Path, image: Path) -> Path:
    relative = image.relative_to(root)
    if relative.parts and relative.parts[0] == "images":
        return root / "labels" / Path(*relative.parts[1:]).with_suffix(".txt")
    return image.with_suffix(".txt")


def import_yolo(
    root: Path, default_classes: Sequence[str], classes: Sequence[str] | None = None
) -> ImportReport:
    """Class ids are named by `classes` when given, else by the folder's data.yaml (or
    dataset.yaml, classes.txt), else by `default_classes`, which the report's notes say."""
    named = _yolo_classes(root)
    report = ImportReport(classes=list(classes or named or default_classes))
    if not classes and not named:
        report.notes.append(
            f"classes {', '.join(report.classes)}: the folder names none (data.yaml, "
            "dataset.yaml or classes.txt); --classes names its ids 0, 1, ..."
        )
    images = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    used_labels: set[Path] = set()
    for image in images:
        label = _label_path(root, image)
        used_labels.add(label)
        size = image_size(image)
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
                image, detections, size[0], size[1], tags=[split_of(image.relative_to(root))]
            )
        )
    for label in sorted(root.rglob("*.txt")):
        if label.name == "classes.txt" or label in used_labels:
            continue
        report.skipped.append((label, "label file with no image"))
    return report
