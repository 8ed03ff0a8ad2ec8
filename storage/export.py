"""Exports labelled images to a fresh YOLO folder (images/, labels/, data.yaml) for ultralytics."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import supervision as sv
import yaml

from storage.workspace import WorkspaceError
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
    """Write `out_dir` from scratch (so ultralytics never reads a stale label cache); returns data.yaml.

    The export is written beside `out_dir` and renamed into place when complete, so a killed
    process or a full disk never leaves a half-written export for training to read. Missing
    source images and a full disk are WorkspaceErrors of one sentence.
    """
    missing = [item.path for items in splits.values() for item in items if not item.path.is_file()]
    if missing:
        raise WorkspaceError(
            f"{len(missing)} image(s) of the workspace are missing (first: {missing[0]}); restore "
            "them or re-import the data (nothing was exported)."
        )
    partial = out_dir.with_name(out_dir.name + ".partial")
    try:
        _write(partial, classes, splits, final=out_dir)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        partial.rename(out_dir)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        if error.errno == errno.ENOSPC:
            raise WorkspaceError(
                f"The disk holding {out_dir} is full; free some space and run the command again "
                "(the partial export was removed; nothing stored was changed)."
            ) from None
        raise
    return out_dir / "data.yaml"


def _write(
    folder: Path, classes: Sequence[str], splits: Mapping[str, Sequence[ExportItem]], final: Path
) -> None:
    if folder.exists():  # left by a killed export
        shutil.rmtree(folder)
    for split, items in splits.items():
        image_dir, label_dir = folder / "images" / split, folder / "labels" / split
        image_dir.mkdir(parents=True)
        label_dir.mkdir(parents=True)
        for index, item in enumerate(items):
            name = f"{index:06d}_{item.path.stem}"
            _link_or_copy(item.path, image_dir / f"{name}{item.path.suffix.lower()}")
            lines = to_yolo_lines(item.detections, item.width, item.height)
            (label_dir / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    # data.yaml names the final folder: it is read after the rename.
    data = {"path": str(final.resolve()), "names": dict(enumerate(classes))}
    for split in splits:
        data[split] = f"images/{split}"
    (folder / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
