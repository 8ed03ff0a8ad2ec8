"""Imports a user's labelled images (YOLO, COCO, Pascal VOC or a FiftyOne dataset), skipping and
reporting bad files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from storage.importers.coco import import_coco
from storage.importers.files import (
    IMAGE_SUFFIXES,
    ORIENTATION,
    ImportError_,
    ImportReport,
    copy_image,
    needs_normalising,
)
from storage.importers.voc import import_voc
from storage.importers.yolo import import_yolo

__all__ = [
    "FORMATS",
    "IMAGE_SUFFIXES",
    "ORIENTATION",
    "ImportError_",
    "ImportReport",
    "copy_image",
    "import_labelled",
    "needs_normalising",
]

FORMATS = ("yolo", "coco", "voc")


def import_labelled(
    path: Path, fmt: str, default_classes: Sequence[str], classes: Sequence[str] | None = None
) -> ImportReport:
    """Import a folder (YOLO, VOC) or annotations file (COCO); raise ImportError_ if nothing is
    usable. `classes`, when given, are the user's class names in order: a COCO or VOC file with
    an object of another class is skipped; for YOLO they name the ids 0, 1, ... (over the
    folder's data.yaml)."""
    if not path.exists():
        raise ImportError_(f"Import path {path} does not exist.")
    if classes is not None and not classes:
        raise ImportError_("--classes names no class; pass names separated by commas.")
    if fmt == "yolo":
        if not path.is_dir():
            raise ImportError_(f"A YOLO import needs a folder; {path} is a file.")
        report = import_yolo(path, default_classes, classes)
    elif fmt == "coco":
        report = import_coco(path, default_classes, classes)
    elif fmt == "voc":
        report = import_voc(path, classes)
    else:
        raise ImportError_(f"Unknown import format '{fmt}'; use {', '.join(FORMATS)}.")
    return require_images(report, str(path), "check the folder and --format")


def require_images(report: ImportReport, source: str, hint: str) -> ImportReport:
    """`report` itself, or ImportError_ when it holds no usable image."""
    if not report.images:
        raise ImportError_(
            f"No usable labelled image was found in {source} "
            f"({len(report.skipped)} files skipped); {hint}."
        )
    return report
