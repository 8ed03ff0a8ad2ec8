"""One blamed factor checked on a slice's objects: edit and placebo images, the incumbent re-run, a verdict.

Nothing here reads the workspace: the step (agent/steps/counterfactuals) hands in the slice's
objects, their images and boxes, and a detector; tests hand in a fake detector and made images.

"Same strength" is measured in the val objects' own terms: an edit that moves brightness past
45% of the val objects is matched by a placebo that moves sharpness past 45% of them. Pixel
change would not do: a dark image's pixels can only rise, so any placebo as large as the
brightening lightens the dark objects too, and tests the blamed cause instead of a sham.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from evaluation.counterfactual import EditArm, FactorCheck, decide, unchecked, wilson
from evaluation.slices import match_found
from tools.before_after import BeforeAfter, write_strip
from tools.convert import make_detections
from tools.detector.base import Detector
from tools.generator.counterfactual_edits import (
    SIZE_FACTOR,
    EditedImage,
    move_pixel_attribute,
    remove_factor,
)
from tools.image_attributes import PIXEL_MEASURES

# The placebo aims at a band of this many val objects (as a share) around its rank: a band,
# not a point, so that the edit search can land in it.
PLACEBO_BAND = 0.05
# Misses shown to the reviewer per checked factor, before and after its edit: enough to see
# what the edit did, few enough to read at a glance.
STRIP_PAIRS = 4
STRIP_NAME = "strip.png"


@dataclass(frozen=True)
class SliceObject:
    """One val object of a slice: its image, its box's index in that image's truth, and
    whether the incumbent found it there."""

    sample_id: str
    path: Path
    index: int
    found: bool


@dataclass(frozen=True)
class Factor:
    """What to remove: a blamed attribute, how the hypothesis put it, the range to move it into
    (discovery's units: where the detector does well), and the placebo's attribute (one the
    hypothesis does not blame)."""

    attribute: str
    blamed: str
    target: tuple[float, float]
    placebo: str


def rank(population: np.ndarray, value: float) -> float:
    """Share of the (sorted) population below `value`, ties counted half."""
    below = np.searchsorted(population, value, side="left")
    upto = np.searchsorted(population, value, side="right")
    return float((below + upto) / 2 / len(population))


def placebo_target(
    population: np.ndarray, value: float, shift: float, up: bool
) -> tuple[float, float]:
    """The band `shift` ranks above (or below) `value` in the sorted population; the other way
    when that side has no room."""
    start = rank(population, value)
    aim = start + shift if up else start - shift
    if not 0 <= aim <= 1:
        aim = start - shift if up else start + shift
    aim = float(np.clip(aim, 0, 1))
    low, high = max(0.0, aim - PLACEBO_BAND), min(1.0, aim + PLACEBO_BAND)
    return float(np.quantile(population, low)), float(np.quantile(population, high))


@dataclass(frozen=True)
class _Unit:
    """One edited image: the source, the box the edit centres on (size edits), and the objects
    it is read for (misses and controls)."""

    path: Path
    focus: int
    objects: tuple[SliceObject, ...]


def _units(objects: Sequence[SliceObject], attribute: str) -> list[_Unit]:
    """A pixel edit changes a whole image, so an image's objects share one; a size edit centres
    on one object, so each object gets its own."""
    if attribute == SIZE_FACTOR:
        return [_Unit(o.path, o.index, (o,)) for o in objects]
    by_image: dict[Path, list[SliceObject]] = defaultdict(list)
    for o in objects:
        by_image[o.path].append(o)
    return [_Unit(path, group[0].index, tuple(group)) for path, group in by_image.items()]


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@dataclass
class _Made:
    """The edited images of one arm, where they were written and how far each moved (ranks)."""

    units: list[_Unit]
    images: list[EditedImage]
    paths: list[Path]
    strengths: list[float]


def _found_after(
    detector: Detector,
    weights: Path,
    made: _Made,
    labels: dict[str, np.ndarray],
    conf: float,
) -> dict[SliceObject, bool]:
    """Whether the incumbent finds each unit's objects in its edited image (objects the edit
    cut out of the frame are left out: nothing says whether they would be found)."""
    predictions = detector.predict(weights, made.paths)
    found: dict[SliceObject, bool] = {}
    for unit, image, predicted in zip(made.units, made.images, predictions, strict=True):
        sample_id = unit.objects[0].sample_id
        truth = make_detections(image.boxes, labels[sample_id][image.kept])
        matched = match_found(truth, predicted, conf)
        position = {int(k): row for row, k in enumerate(image.kept)}
        for o in unit.objects:
            if o.index in position:
                found[o] = bool(matched[position[o.index]])
    return found


def _make(
    units: list[_Unit],
    factor: Factor,
    truths: dict[str, np.ndarray],
    population: Mapping[str, np.ndarray],
    out_dir: Path,
    seed: int,
) -> tuple[_Made, _Made]:
    """The edit and the placebo of every unit, written as lossless PNGs under `out_dir`; each
    arm's strength is how far it moved its attribute through the val objects (rank shift)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    blamed = np.sort(population[factor.attribute])
    sham_population = np.sort(population[factor.placebo])
    edits, shams = _Made(units, [], [], []), _Made(units, [], [], [])
    for k, unit in enumerate(units):
        original = _read(unit.path)
        boxes = truths[unit.objects[0].sample_id]
        edit = remove_factor(original, boxes, factor.attribute, factor.target, unit.focus, seed)
        shift = abs(rank(blamed, edit.after) - rank(blamed, edit.before))
        before = PIXEL_MEASURES[factor.placebo](original)
        # Up and down in turn: the placebo pushes its attribute no one way over the slice.
        band = placebo_target(sham_population, before, shift, up=k % 2 == 0)
        sham = move_pixel_attribute(original, boxes, factor.placebo, band, seed)
        sham_shift = abs(rank(sham_population, sham.after) - rank(sham_population, before))
        for made, image, moved, kind in (
            (edits, edit, shift, "edit"),
            (shams, sham, sham_shift, "placebo"),
        ):
            path = out_dir / f"{k:04d}_{kind}.png"
            Image.fromarray(image.image).save(path)
            made.images.append(image)
            made.paths.append(path)
            made.strengths.append(moved)
    return edits, shams


def _arm(
    attribute: str,
    how: str,
    made: _Made,
    after: dict[SliceObject, bool],
    misses: list[SliceObject],
    controls: list[SliceObject],
) -> EditArm:
    found = [after[o] for o in misses]
    return EditArm(
        attribute=attribute,
        how=how,
        strength=float(np.mean(made.strengths)),
        recovered=wilson(sum(found), len(found)),
        lost=wilson(sum(not after[o] for o in controls), len(controls)) if controls else None,
        landed=float(np.mean([image.landed for image in made.images])),
    )


def _strip(
    edits: _Made,
    after: dict[SliceObject, bool],
    misses: list[SliceObject],
    truths: dict[str, np.ndarray],
    path: Path,
) -> Path | None:
    """Up to `STRIP_PAIRS` misses, evenly spaced over the slice (the same ones on a rerun),
    each cropped from its image and from the edit, written as one strip at `path`."""
    if not misses:
        return None
    picks = np.unique(np.linspace(0, len(misses) - 1, min(STRIP_PAIRS, len(misses))).round())
    unit_of = {o: k for k, unit in enumerate(edits.units) for o in unit.objects}
    pairs = []
    for pick in picks.astype(int):
        miss = misses[pick]
        image = edits.images[unit_of[miss]]
        row = int(np.flatnonzero(image.kept == miss.index)[0])
        pairs.append(
            BeforeAfter(
                before=_read(miss.path),
                before_box=truths[miss.sample_id][miss.index],
                after=image.image,
                after_box=image.boxes[row],
                found=after[miss],
            )
        )
    return write_strip(pairs, path)


def check_factor(
    detector: Detector,
    weights: Path,
    slice_name: str,
    factor: Factor,
    objects: Sequence[SliceObject],
    truths: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    out_dir: Path,
    population: Mapping[str, np.ndarray],
    conf: float,
    seed: int = 0,
) -> FactorCheck:
    """Remove `factor` from the images of the slice's `objects`, and apply a placebo of the same
    strength to the same images; run the incumbent on both and decide. A strip of a few misses
    before and after the edit is written as `out_dir / STRIP_NAME` and named on the check.

    `truths`: each sample's (N, 4) xyxy boxes, `labels` their class ids (N,), in the order of
    `SliceObject.index`; `population`: every val object's value of each attribute (what
    strength is measured against). Edited images are written under `out_dir` (lossless PNG) for the
    detector to read and for people to look at."""
    if all(o.found for o in objects):
        return unchecked(slice_name, factor.attribute, factor.blamed, "no missed objects to edit")
    units = _units(objects, factor.attribute)
    edits, shams = _make(units, factor, truths, population, out_dir, seed)
    after_edit = _found_after(detector, weights, edits, labels, conf)
    after_sham = _found_after(detector, weights, shams, labels, conf)
    read = [o for u in edits.units for o in u.objects if o in after_edit and o in after_sham]
    misses = [o for o in read if not o.found]
    controls = [o for o in read if o.found]
    target = f"{factor.target[0]:.3g}-{factor.target[1]:.3g}"
    how = f"{factor.attribute} moved into {target}"
    sham_how = f"{factor.placebo} moved as far through the val objects, up and down in turn"
    strip = _strip(edits, after_edit, misses, truths, out_dir / STRIP_NAME)
    checked = decide(
        slice_name,
        factor.attribute,
        factor.blamed,
        _arm(factor.attribute, how, edits, after_edit, misses, controls),
        _arm(factor.placebo, sham_how, shams, after_sham, misses, controls),
        np.array([after_edit[o] for o in misses], bool),
        np.array([after_sham[o] for o in misses], bool),
    )
    return checked.model_copy(update={"strip": None if strip is None else str(strip)})
