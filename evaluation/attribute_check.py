"""Attribute targets of paste requests measured back on the made image and its truth boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tools.generator.check import CheckItem, RequestCheck
from tools.image_attributes import PIXEL_MEASURES, box_sizes, max_overlaps, measure_file

OBJECT_TARGETS = ("box_size", "overlap", "objects")


def truth_file(image_path: str | Path) -> Path:
    """The truth file a generator writes beside its image (`<id>.truth.json`)."""
    path = Path(image_path)
    return path.with_name(f"{path.stem}.truth.json")


class AttributeReadBack:
    """The paste generator's check: each target of a request (GenerationRequest.targets) measured
    again with discovery's functions: image attributes on the file as saved (`jpeg_quality` from
    its tables), `box_size` and `overlap` on every pasted object's truth box (each must land),
    `objects` as the count of pasted objects. As asked only when every target lands; a request
    with no targets is not checked (neither as asked nor not).

    Counted, not dropped: an image that missed a range is still an image of the class it was
    asked for, and dropping would change what every arm trains on."""

    name = "attribute-read-back"
    drops = False

    def check(self, items: list[CheckItem]) -> list[RequestCheck]:
        return [self._one(item) for item in items]

    def _one(self, item: CheckItem) -> RequestCheck:
        targets = dict(item.targets)
        if not targets:
            return RequestCheck(score=0.0, as_asked=False, checked=False)
        measured = measure_back(item.path, list(targets))
        unmet = []
        for name, (low, high) in targets.items():
            values = measured.get(name)
            if values is None or not all(low <= v <= high for v in values):
                unmet.append(name)
        met = len(targets) - len(unmet)
        return RequestCheck(score=met / len(targets), as_asked=not unmet, unmet=sorted(unmet))


def measure_back(image_path: str | Path, names: list[str]) -> dict[str, list[float]]:
    """Each named attribute of a made image: one value for an image attribute or the object
    count, one per pasted object for `box_size` and `overlap`. An object attribute is missing
    when the image has no truth file recording its pasted objects, or no pasted object."""
    pixel_names = [n for n in names if n in PIXEL_MEASURES or n == "jpeg_quality"]
    values = {k: [v] for k, v in measure_file(image_path, pixel_names).items()}
    object_names = [n for n in names if n in OBJECT_TARGETS]
    truth_path = truth_file(image_path)
    if not object_names or not truth_path.is_file():
        return values
    truth = json.loads(truth_path.read_text())
    if "pasted" not in truth:
        return values
    pasted = truth["pasted"]
    boxes = np.array(truth["boxes"], dtype=np.float64).reshape(-1, 4)
    with Image.open(image_path) as image:
        long_side = max(image.size)
    if "objects" in object_names:
        values["objects"] = [float(len(pasted))]
    if pasted:
        if "box_size" in object_names:
            values["box_size"] = box_sizes(boxes[pasted], long_side).tolist()
        if "overlap" in object_names:
            values["overlap"] = max_overlaps(boxes)[pasted].tolist()
    return values
