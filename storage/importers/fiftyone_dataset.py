"""A user's own FiftyOne dataset (images, a Detections field, split tags), read in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from storage.datasets import LabeledImage
from storage.importers.files import SPLITS, ImportError_, ImportReport, hash_split, image_size
from tools.convert import make_detections

REPOSITORY = Path(__file__).resolve().parents[2]


class DatasetReadError(ValueError):
    """The user's dataset cannot be read as asked; the message is one sentence for the user."""


def import_fiftyone(
    name: str,
    label_field: str | None = None,
    classes: Sequence[str] | None = None,
    environment: Mapping[str, str] | None = None,
) -> ImportReport:
    """The samples of the user's FiftyOne dataset `name`, with the boxes of `label_field` (the
    dataset's only Detections field when not given), split by their train/val/test tags.

    Read in a child process: a process talks to one FiftyOne database for its whole life, and
    the workspace has its own. The child finds the user's database as FiftyOne itself does
    (FIFTYONE_DATABASE_URI, FIFTYONE_DATABASE_DIR, ~/.fiftyone/config.json) from `environment`
    (this process's by default).
    """
    env = dict(os.environ if environment is None else environment)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPOSITORY), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", __name__, name]
    command += ["--label-field", label_field] if label_field else []
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    try:
        read = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ImportError_(f"Reading the FiftyOne dataset '{name}' failed ({last}).") from None
    if read.get("error"):
        raise ImportError_(read["error"])
    return _report(read, classes)


def _report(read: dict[str, Any], classes: Sequence[str] | None) -> ImportReport:
    """The child's samples as checked LabeledImages, each bad one skipped with its reason."""
    field = read["label_field"]
    present = sorted({label for s in read["samples"] for label in s["labels"]})
    # The dataset's declared order (classes no box has left out), then any it does not declare.
    declared = [c for c in read["classes"] if c in present]
    ordered = declared + [c for c in present if c not in declared]
    report = ImportReport(classes=list(classes or ordered))
    untagged = 0
    for sample in read["samples"]:
        path = Path(sample["filepath"])
        splits = [t for t in SPLITS if t in sample["tags"]]
        size = image_size(path) if path.is_file() else "image file does not exist"
        problem = _sample_problem(sample, size, splits, field, report.classes)
        if problem is not None or isinstance(size, str):
            report.skipped.append((path, problem or str(size)))
            continue
        width, height = size
        untagged += not splits
        split = splits[0] if splits else hash_split(str(path))
        detections = _pixel_detections(sample, width, height, report.classes)
        report.images.append(LabeledImage(path, detections, width, height, [split]))
    report.notes += [
        f"boxes from '{field}'"
        + (" (the dataset's only Detections field)" if read["picked"] else ""),
        f"classes {', '.join(report.classes)}: "
        + (
            "as --classes names them"
            if classes
            else "as the dataset declares them"
            if declared
            else "sorted by name"
        ),
    ]
    if untagged:
        report.notes.append(
            f"{untagged} samples have no train/val/test tag: split 60/20/20 by file name"
        )
    return report


def _sample_problem(
    sample: dict[str, Any],
    size: tuple[int, int] | str,
    splits: list[str],
    field: str,
    classes: Sequence[str],
) -> str | None:
    """Why a sample cannot be imported (its image, its labels, its split tags), or None."""
    if isinstance(size, str):
        return size
    if not sample["labels"]:
        return f"no objects in '{field}'"
    if len(splits) > 1:
        return f"tagged both {' and '.join(splits)}"
    return _box_problem(sample, classes)


def _pixel_detections(
    sample: dict[str, Any], width: int, height: int, classes: Sequence[str]
) -> sv.Detections:
    """A sample's relative [x, y, w, h] boxes as pixel detections, clipped to the image."""
    relative = np.array(sample["boxes"], dtype=float).reshape(-1, 4)
    xyxy = np.column_stack(
        [
            relative[:, 0],
            relative[:, 1],
            relative[:, 0] + relative[:, 2],
            relative[:, 1] + relative[:, 3],
        ]
    ) * [width, height, width, height]
    ids = np.array([classes.index(label) for label in sample["labels"]])
    return make_detections(np.clip(xyxy, 0, [width, height] * 2), ids)


def _box_problem(sample: dict[str, Any], classes: Sequence[str]) -> str | None:
    for label, (x, y, w, h) in zip(sample["labels"], sample["boxes"], strict=True):
        if label not in classes:
            return f"class '{label}' is not one of --classes ({', '.join(classes)})"
        if w <= 0 or h <= 0:
            return f"box of '{label}' has no width or height"
        # Relative coordinates: a hundredth of slack, as exporters round.
        if x < -0.01 or y < -0.01 or x + w > 1.01 or y + h > 1.01:
            return f"box [{x:.3f}, {y:.3f}, {w:.3f}, {h:.3f}] of '{label}' is outside the image"
    return None


# -- the child: connects to the user's database and prints the dataset as one json line -----------
def read_dataset(name: str, label_field: str | None) -> dict[str, Any]:
    """The dataset's samples (file path, tags, labels, relative boxes) and declared classes."""
    import fiftyone as fo

    if not fo.dataset_exists(name):
        names = ", ".join(fo.list_datasets()[:10]) or "none"
        raise DatasetReadError(
            f"There is no FiftyOne dataset named '{name}' in the database at "
            f"{fo.config.database_uri or fo.config.database_dir} (datasets there: {names}); "
            "check --fiftyone, or FIFTYONE_DATABASE_URI / FIFTYONE_DATABASE_DIR."
        )
    dataset = fo.load_dataset(name)
    if dataset.media_type != "image":
        raise DatasetReadError(
            f"FiftyOne dataset '{name}' holds {dataset.media_type} samples; failforge imports images."
        )
    boxes = sorted(dataset.get_field_schema(embedded_doc_type=fo.Detections))
    picked = label_field is None
    if label_field is None:
        if len(boxes) != 1:
            raise DatasetReadError(
                f"FiftyOne dataset '{name}' has "
                + (
                    f"several Detections fields ({', '.join(boxes)}); choose one with --label-field."
                    if boxes
                    else "no Detections field; failforge imports boxes (fo.Detections)."
                )
            )
        label_field = boxes[0]
    elif label_field not in boxes:
        raise DatasetReadError(
            f"FiftyOne dataset '{name}' has no Detections field '{label_field}'"
            f" (its Detections fields: {', '.join(boxes) or 'none'}); check --label-field."
        )
    paths, tags, labels, relative = dataset.values(
        [
            "filepath",
            "tags",
            f"{label_field}.detections.label",
            f"{label_field}.detections.bounding_box",
        ]
    )
    declared = dataset.classes.get(label_field) or dataset.default_classes or []
    return {
        "label_field": label_field,
        "picked": picked,
        "classes": list(declared),
        "samples": [
            {
                "filepath": p,
                "tags": list(t or []),
                "labels": list(ls or []),
                "boxes": [list(b) for b in bs or []],
            }
            for p, t, ls, bs in zip(paths, tags, labels, relative, strict=True)
        ],
    }


def main(argv: Sequence[str]) -> int:
    import argparse

    import fiftyone as fo

    from storage.database import connect, database_errors

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    parser.add_argument("--label-field")
    args = parser.parse_args(argv)
    # Where FiftyOne's own settings put the user's database; connect() then starts or joins the
    # mongod of that directory only (plain FiftyOne would join any FiftyOne mongod running).
    location = fo.config.database_uri or fo.config.database_dir
    try:
        connect(Path(fo.config.database_dir), fo.config.database_uri)
        read = read_dataset(args.name, args.label_field)
    except DatasetReadError as error:
        read = {"error": str(error)}
    except database_errors() as error:
        read = {
            "error": f"FiftyOne's database at {location} did not answer ({type(error).__name__})."
        }
    print(json.dumps(read))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
