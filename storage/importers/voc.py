"""Pascal VOC folders: Annotations/*.xml, JPEGImages/, and ImageSets/Main/{train,val,test}.txt."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse

from storage.datasets import LabeledImage
from storage.importers.files import (
    IMAGE_SUFFIXES,
    SPLITS,
    ImportError_,
    ImportReport,
    hash_split,
    image_size,
)
from tools.convert import make_detections

ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"
SPLIT_LISTS = Path("ImageSets") / "Main"
CORNERS = ("xmin", "ymin", "xmax", "ymax")


class VocFileError(ValueError):
    """An annotation file that cannot be used; the message is the reason in the import report."""


@dataclass(frozen=True)
class VocObject:
    """One <object>: class name, pixel box (xmin, ymin, xmax, ymax) and VOC's difficult flag."""

    name: str
    box: tuple[float, float, float, float]
    difficult: bool


def read_annotation(path: Path) -> tuple[str | None, list[VocObject]]:
    """The image file name and objects of one VOC annotation file; VocFileError says why not.

    defusedxml, not FiftyOne's VOCAnnotation: annotation files are a user's untrusted input
    (defusedxml refuses entity expansion and external entities), and each problem becomes one
    reason in the report instead of a KeyError. Coordinates are read as FiftyOne's VOC importer
    reads them (x = xmin / width), a pixel away at most from the devkit's 1-based convention.
    """
    try:
        root = parse(str(path)).getroot()
    except ParseError as error:
        raise VocFileError(f"not well-formed XML ({error})") from None
    except DefusedXmlException as error:
        raise VocFileError(
            f"XML with entities or a DTD, refused ({type(error).__name__})"
        ) from None
    if root.tag != "annotation":
        raise VocFileError(f"the root element is <{root.tag}>, not <annotation>")
    objects = [_object(node, k) for k, node in enumerate(root.findall("object"), 1)]
    filename = (root.findtext("filename") or "").strip() or None
    return filename, objects


def _object(node: Element, number: int) -> VocObject:
    name = (node.findtext("name") or "").strip()
    if not name:
        raise VocFileError(f"object {number} has no class name")
    corners = []
    for corner in CORNERS:
        text = (node.findtext(f"bndbox/{corner}") or "").strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise VocFileError(f"object {number} ('{name}') has no number for bndbox/{corner}")
        corners.append(value)
    difficult = (node.findtext("difficult") or "0").strip() not in ("0", "")
    return VocObject(name, (corners[0], corners[1], corners[2], corners[3]), difficult)


def voc_root(path: Path) -> Path:
    """The folder holding Annotations/: `path`, or its only child that holds one (VOCdevkit)."""
    if (path / ANNOTATIONS).is_dir():
        return path
    inside = (
        [c for c in sorted(path.iterdir()) if (c / ANNOTATIONS).is_dir()] if path.is_dir() else []
    )
    if len(inside) == 1:
        return inside[0]
    raise ImportError_(
        f"{path} holds no {ANNOTATIONS} folder; pass the VOC folder that holds "
        f"{ANNOTATIONS}/ and {IMAGES}/."
    )


def split_lists(root: Path) -> dict[str, list[str]]:
    """Image ids -> the ImageSets/Main lists (train, val, test) naming them."""
    listed: dict[str, list[str]] = {}
    for split in SPLITS:
        path = root / SPLIT_LISTS / f"{split}.txt"
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.split():
                    listed.setdefault(line.split()[0], []).append(split)
    return listed


def _image_of(root: Path, annotation: Path, filename: str | None) -> Path | None:
    folders = [root / IMAGES, annotation.parent]
    names = [filename] if filename else []
    names += [annotation.stem + suffix for suffix in sorted(IMAGE_SUFFIXES)]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def import_voc(path: Path, classes: Sequence[str] | None = None) -> ImportReport:
    """Every annotation file with its image; classes sorted by name, or `classes` (a file with
    an object of another class is skipped). Objects marked difficult are kept as ordinary
    objects: the evaluation has no ignore regions, and leaving them out would teach the
    detector that they are background."""
    root = voc_root(path)
    listed = split_lists(root)
    report = ImportReport()
    found: list[tuple[Path, Path, tuple[int, int], list[VocObject], str | None]] = []
    used_images: set[Path] = set()  # every image an annotation file names, read or not
    for annotation in sorted((root / ANNOTATIONS).rglob("*")):
        if annotation.is_dir():
            continue
        if annotation.suffix.lower() != ".xml":
            report.skipped.append((annotation, "not an annotation file (.xml)"))
            continue
        try:
            filename, objects = read_annotation(annotation)
        except VocFileError as error:
            report.skipped.append((annotation, str(error)))
            named = _image_of(root, annotation, None)  # its image is reported with it
            used_images.update([named] if named else [])
            continue
        image = _image_of(root, annotation, filename)
        if image is None:
            where = f"{IMAGES}/{filename or annotation.stem + '.jpg'}"
            report.skipped.append((annotation, f"its image {where} does not exist"))
            continue
        used_images.add(image)
        size = image_size(image)
        if isinstance(size, str):
            report.skipped.append((image, size))
            continue
        splits = listed.get(annotation.stem, [])
        problem = _problem(objects, size, classes)
        if problem is None and len(splits) > 1:
            problem = f"listed in both {' and '.join(f'{s}.txt' for s in splits)}"
        if problem is not None:
            report.skipped.append((annotation, problem))
            continue
        found.append((annotation, image, size, objects, splits[0] if splits else None))
    names = {o.name for _, _, _, objects, _ in found for o in objects}
    report.classes = list(classes) if classes else sorted(names)
    unlisted = difficult = 0
    for annotation, image, (width, height), objects, listed_split in found:
        unlisted += listed_split is None
        difficult += sum(o.difficult for o in objects)
        boxes = np.clip(
            np.array([o.box for o in objects]), 0, [width, height, width, height]
        ).reshape(-1, 4)
        ids = np.array([report.classes.index(o.name) for o in objects])
        split = listed_split or hash_split(annotation.stem)
        report.images.append(
            LabeledImage(image, make_detections(boxes, ids), width, height, [split])
        )
    report.skipped += _unannotated_images(root, used_images)
    report.notes += _notes(report, bool(listed), unlisted, difficult, classes is None)
    return report


def _unannotated_images(root: Path, used_images: set[Path]) -> list[tuple[Path, str]]:
    """The images under JPEGImages/ that no annotation file names, each with why it is left out."""
    return [
        (image, f"no annotation file (expected {ANNOTATIONS}/{image.stem}.xml)")
        for image in (sorted((root / IMAGES).rglob("*")) if (root / IMAGES).is_dir() else [])
        if image.suffix.lower() in IMAGE_SUFFIXES and image not in used_images
    ]


def _problem(
    objects: list[VocObject], size: tuple[int, int], classes: Sequence[str] | None
) -> str | None:
    """Why an annotation's objects cannot be used, or None."""
    if not objects:
        return "no objects"
    width, height = size
    for o in objects:
        if classes is not None and o.name not in classes:
            return f"class '{o.name}' is not one of --classes ({', '.join(classes)})"
        x0, y0, x1, y1 = o.box
        box = f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] of '{o.name}'"
        if x1 <= x0 or y1 <= y0:
            return f"{box} has no width or height"
        # One pixel of slack, as for COCO: exporters disagree on where the last pixel ends.
        if x0 < -1 or y0 < -1 or x1 > width + 1 or y1 > height + 1:
            return f"{box} is outside the {width} x {height} image"
    return None


def _notes(
    report: ImportReport, has_lists: bool, unlisted: int, difficult: int, sorted_classes: bool
) -> list[str]:
    notes = []
    if sorted_classes:
        notes.append(f"classes {', '.join(report.classes)}: sorted by name (--classes sets them)")
    if not has_lists:
        notes.append(f"no {SPLIT_LISTS}/{{train,val,test}}.txt: split 60/20/20 by file name")
    elif unlisted:
        notes.append(f"{unlisted} images are in no {SPLIT_LISTS} list: split 60/20/20 by file name")
    if difficult:
        notes.append(
            f"{difficult} objects marked difficult are kept as ordinary objects (trained on and "
            "counted in recall; the evaluation has no ignore regions)"
        )
    return notes
