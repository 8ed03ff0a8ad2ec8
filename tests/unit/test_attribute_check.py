"""The attribute read-back: each target measured again on the saved image and its truth boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from evaluation.attribute_check import AttributeReadBack, measure_back
from tools.generator.check import CheckItem, RequestCheck
from tools.image_attributes import PIXEL_MEASURES

# Two pasted objects (the last two boxes) and one of the background, on a 600x400 photograph.
BOXES = [[10.0, 10.0, 70.0, 70.0], [40.0, 40.0, 100.0, 100.0], [300.0, 200.0, 330.0, 224.0]]


@pytest.fixture
def made(tmp_path: Path) -> Path:
    path = tmp_path / "r001.png"
    Image.fromarray(skimage.data.coffee()).save(path)
    truth = {"boxes": BOXES, "classes": ["a", "a", "b"], "pasted": [1, 2]}
    (tmp_path / "r001.truth.json").write_text(json.dumps(truth))
    return path


def check(path: Path, targets: dict[str, tuple[float, float]]) -> RequestCheck:
    item = CheckItem(str(path), "", {}, None, 600, targets)  # type: ignore[arg-type]
    return AttributeReadBack().check([item])[0]


def test_a_request_without_targets_is_not_checked(made: Path) -> None:
    assert check(made, {}) == RequestCheck(score=0.0, as_asked=False, checked=False)


def test_targets_in_range_read_back_as_asked(made: Path) -> None:
    brightness = PIXEL_MEASURES["brightness"](skimage.data.coffee())
    targets = {
        "brightness": (brightness - 1, brightness + 1),
        "objects": (2.0, 2.0),
        # sqrt(60 x 60) / 600 and sqrt(30 x 24) / 600
        "box_size": (0.04, 0.1),
        # the first pasted box overlaps the background's first (IoU 900 / 6300), the second none
        "overlap": (0.0, 0.15),
    }
    assert check(made, targets) == RequestCheck(score=1.0, as_asked=True)


def test_a_target_out_of_range_is_named(made: Path) -> None:
    brightness = PIXEL_MEASURES["brightness"](skimage.data.coffee())
    result = check(
        made,
        {
            "brightness": (brightness + 5, brightness + 10),
            "box_size": (0.08, 0.2),  # the second pasted object (0.045) is too small
            "objects": (1.0, 3.0),
        },
    )
    assert result == RequestCheck(score=1 / 3, as_asked=False, unmet=["box_size", "brightness"])


def test_object_targets_need_the_truth_file(made: Path) -> None:
    made.with_name("r001.truth.json").unlink()
    result = check(made, {"objects": (2.0, 2.0), "contrast": (0.0, 255.0)})
    assert result.unmet == ["objects"] and result.score == 0.5


def test_pasted_objects_are_measured_each(made: Path) -> None:
    values = measure_back(made, ["box_size", "overlap", "objects", "jpeg_quality"])
    np.testing.assert_allclose(values["box_size"], [0.1, np.sqrt(720) / 600])
    np.testing.assert_allclose(values["overlap"], [900 / 6300, 0.0], rtol=1e-6)
    assert values["objects"] == [2.0]
    assert values["jpeg_quality"] == [100.0]  # a PNG


def test_jpeg_quality_is_read_from_the_saved_file(tmp_path: Path) -> None:
    path = tmp_path / "r002.jpg"
    Image.fromarray(skimage.data.coffee()).save(path, "JPEG", quality=40)
    assert check(path, {"jpeg_quality": (35.0, 45.0)}).as_asked
    assert check(path, {"jpeg_quality": (60.0, 90.0)}).unmet == ["jpeg_quality"]
