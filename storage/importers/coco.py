"""COCO annotation files: images, categories and [x, y, w, h] pixel boxes in one json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from storage.datasets import LabeledImage
from storage.importers.files import ImportError_, ImportReport, image_size, split_of
from tools.convert import make_detections


def import_coco(
    path: Path, default_classes: Sequence[str], classes: Sequence[str] | None = None
) -> ImportReport:
    """Classes are the categories' names in the file's order (or `classes`: an image with an
    object of another category is skipped)."""
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
    names = list(classes) if classes else list(dict.fromkeys(categories.values()))
    report = ImportReport(classes=names or list(default_classes))
    by_image: dict[int, list[dict[str, Any]]] = {}
    for annotation in annotations:
        by_image.setdefault(annotation.get("image_id"), []).append(annotation)
    base = json_path.parent
    for record in records:
        candidates = [base / record["file_name"], base / "images" / record["file_name"]]
        image = next((c for c in candidates if c.is_file()), candidates[0])
        size = image_size(image) if image.is_file() else "image file does not exist"
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
            if name not in report.classes:
                problem = f"class '{name}' is not one of --classes ({', '.join(report.classes)})"
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
                image, detections, width, height, tags=[split_of(Path(record["file_name"]))]
            )
        )
    return report
