"""Importing a user's YOLO or COCO data: bad files are skipped with a reason, the rest comes in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storage.importers import ImportError_, import_labelled

CLASSES = ["car", "person", "sign"]


def _image(path: Path, size: int = 32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), 128, np.uint8)).save(path)


@pytest.fixture
def yolo_folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for name in ("good", "truncated", "empty", "badclass", "outside", "nolabel"):
        _image(root / "images" / "train" / f"{name}.png")
    (root / "images" / "train" / "notimage.jpg").write_text("hello")
    labels = root / "labels" / "train"
    labels.mkdir(parents=True)
    (labels / "good.txt").write_text("0 0.5 0.5 0.2 0.2\n2 0.3 0.3 0.1 0.1\n")
    (labels / "truncated.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (labels / "notimage.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (labels / "empty.txt").write_text("")
    (labels / "badclass.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    (labels / "outside.txt").write_text("0 0.99 0.5 0.2 0.2\n")
    (labels / "orphan.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    data = (root / "images" / "train" / "truncated.png").read_bytes()
    (root / "images" / "train" / "truncated.png").write_bytes(data[: len(data) // 2])
    return root


def test_yolo_import_skips_each_bad_file_once_with_its_reason(yolo_folder: Path) -> None:
    report = import_labelled(yolo_folder, "yolo", CLASSES)
    assert [i.path.name for i in report.images] == ["good.png"]
    assert len(report.images[0].detections) == 2 and report.images[0].tags == ["train"]
    reasons = {path.name: reason for path, reason in report.skipped}
    assert len(reasons) == len(report.skipped) == 7
    assert "not a readable image" in reasons["truncated.png"]
    assert "not a readable image" in reasons["notimage.jpg"]
    assert reasons["empty.txt"] == "empty label file"
    assert "class index 7" in reasons["badclass.txt"]
    assert "outside the image" in reasons["outside.txt"]
    assert "no label file" in reasons["nolabel.png"]
    assert reasons["orphan.txt"] == "label file with no image"


def test_a_folder_without_any_usable_image_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "junk.txt").write_text("0 0.5 0.5 0.1 0.1")
    with pytest.raises(ImportError_, match="No usable labelled image"):
        import_labelled(tmp_path, "yolo", CLASSES)


def test_coco_import_maps_categories_and_skips_bad_boxes(tmp_path: Path) -> None:
    _image(tmp_path / "a.png", 40)
    _image(tmp_path / "b.png", 40)
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png"},
            {"id": 2, "file_name": "b.png"},
            {"id": 3, "file_name": "missing.png"},
        ],
        "categories": [{"id": 5, "name": "car"}, {"id": 9, "name": "person"}],
        "annotations": [
            {"image_id": 1, "category_id": 9, "bbox": [2, 3, 10, 12]},
            {"image_id": 2, "category_id": 5, "bbox": [30, 30, 30, 30]},
        ],
    }
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    report = import_labelled(tmp_path / "ann.json", "coco", CLASSES)
    assert report.classes == ["car", "person"]
    assert [i.path.name for i in report.images] == ["a.png"]
    np.testing.assert_allclose(report.images[0].detections.xyxy, [[2, 3, 12, 15]])
    assert report.images[0].detections.class_id.tolist() == [1]
    assert {p.name for p, _ in report.skipped} == {"b.png", "missing.png"}


def test_coco_categories_named_twice_become_one_class(tmp_path: Path) -> None:
    _image(tmp_path / "a.png", 40)
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "car"}],
        "annotations": [
            {"image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 12]},
            {"image_id": 1, "category_id": 2, "bbox": [20, 20, 10, 10]},
        ],
    }
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    report = import_labelled(tmp_path / "ann.json", "coco", CLASSES)
    assert report.classes == ["car"]
    assert report.images[0].detections.class_id.tolist() == [0, 0]


@pytest.mark.parametrize("text", ["{not json", '{"images": 3}', "[]"])
def test_a_malformed_coco_file_is_one_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "ann.json").write_text(text)
    with pytest.raises(ImportError_, match="is not a COCO annotations file"):
        import_labelled(tmp_path / "ann.json", "coco", CLASSES)


def test_yolo_ids_take_the_names_given_and_a_default_is_said(yolo_folder: Path) -> None:
    report = import_labelled(yolo_folder, "yolo", CLASSES)
    assert report.classes == CLASSES
    assert report.notes == [
        "classes car, person, sign: the folder names none (data.yaml, dataset.yaml or "
        "classes.txt); --classes names its ids 0, 1, ..."
    ]
    (yolo_folder / "data.yaml").write_text("names: [cat, dog, owl]\n")
    assert import_labelled(yolo_folder, "yolo", CLASSES).classes == ["cat", "dog", "owl"]
    named = import_labelled(yolo_folder, "yolo", CLASSES, classes=["wbc", "rbc", "platelet"])
    assert named.classes == ["wbc", "rbc", "platelet"] and named.notes == []
