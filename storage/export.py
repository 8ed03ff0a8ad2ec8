"""Exports labelled images to a fresh YOLO folder (images/, labels/, data.yaml) for ultralytics."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import supervision as sv
import yaml

from tools.convert import to_yolo_lines


@dataclass(frozen=True)
class ExportItem:
    """One image to export: where it is, its size and its boxes."""

    path: Path
    width: int
    height: int
    detections: sv.Detections


def _link_or_copy(source: Path, target: Path) -> None:
    # Hard links cost nothing and keep the export folder self-contained; copy across devices.
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def export_yolo(
    out_dir: Path, classes: Sequence[str], splits: Mapping[str, Sequence[ExportItem]]
) -> Path:
    """Write `out_dir` from scratch (so ultralytics never reads a stale label cache); returns data.yaml."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for split, items in splits.items():
        image_dir, label_dir = out_dir / "images" / split, out_dir / "labels" / split
        image_dir.mkdir(parents=True)
        label_dir.mkdir(parents=True)
        for index, item in enumerate(items):
            name = f"{index:06d}_{item.path.stem}"
            _link_or_copy(item.path, image_dir / f"{name}{item.path.suffix.lower()}")
            lines = to_yolo_lines(item.detections, item.width, item.height)
            (label_dir / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    data_yaml = out_dir / "data.yaml"
    data = {"path": str(out_dir.resolve()), "names": dict(enumerate(classes))}
    for split in splits:
        data[split] = f"images/{split}"
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return data_yaml
