"""Counterfactual edits keep every box exact and change the named attribute, measured back with
discovery's own functions: pixel edits leave the boxes as they were, the enlargement moves the
pixels and the boxes by one map."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from agent.steps.counterfactual_check import Factor
from agent.steps.counterfactuals import factor_to_remove
from tools.generator.counterfactual_edits import enlarge_around, remove_factor
from tools.image_attributes import PIXEL_MEASURES, box_sizes, max_overlaps

BOXES = np.array([[150.0, 100.0, 190.0, 130.0], [170.0, 110.0, 220.0, 150.0]])


@pytest.fixture(scope="module")
def photograph() -> np.ndarray:
    return cv2.resize(skimage.data.coffee(), (320, 240), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(
    ("attribute", "factor"),
    [("brightness", 1.4), ("contrast", 0.6), ("haze", 0.6), ("sharpness", 0.5)],
)
def test_a_pixel_edit_lands_its_attribute_and_keeps_every_box(
    photograph: np.ndarray, attribute: str, factor: float
) -> None:
    before = PIXEL_MEASURES[attribute](photograph)
    target = (before * factor * 0.95, before * factor * 1.05)
    edited = remove_factor(photograph, BOXES, attribute, target)
    assert edited.landed
    assert target[0] <= PIXEL_MEASURES[attribute](edited.image) <= target[1]
    assert edited.after == pytest.approx(PIXEL_MEASURES[attribute](edited.image))
    assert np.array_equal(edited.boxes, BOXES)
    assert edited.kept.tolist() == [0, 1]
    # What discovery reads from the boxes is what it read before.
    assert np.array_equal(box_sizes(edited.boxes, 320), box_sizes(BOXES, 320))
    assert np.array_equal(max_overlaps(edited.boxes), max_overlaps(BOXES))


def scene() -> tuple[np.ndarray, np.ndarray]:
    """A flat background with a small red square, a blue bar beside it and a green square far
    away in a corner."""
    image = np.full((240, 320, 3), 90, np.uint8)
    image[100:112, 150:162] = (220, 30, 30)
    image[104:116, 166:190] = (30, 30, 220)
    image[10:30, 280:300] = (30, 220, 30)
    boxes = np.array([[150, 100, 162, 112], [166, 104, 190, 116], [280, 10, 300, 30]], float)
    return image, boxes


def coloured_box(image: np.ndarray, channel: int) -> np.ndarray:
    """The box of the pixels where `channel` dominates (over half-way to the object's colour)."""
    pixels = image.astype(np.float32)
    others = np.delete(pixels, channel, axis=2).max(axis=2)
    rows, cols = np.nonzero(pixels[..., channel] - others > 95)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], float)


def test_enlarging_moves_pixels_and_boxes_by_one_map() -> None:
    image, boxes = scene()
    edited = enlarge_around(image, boxes, focus=0, target=(0.09, 0.11))
    assert edited.landed
    assert edited.before == pytest.approx(12 / 320)
    assert 0.09 <= edited.after <= 0.11
    # The far corner square left the window: dropped, not mislabelled.
    assert edited.kept.tolist() == [0, 1]
    # Where the red square and the blue bar are drawn now is where their boxes say, to the
    # bilinear resampling's half pixel at each edge.
    assert np.abs(coloured_box(edited.image, 0) - edited.boxes[0]).max() <= 1.0
    assert np.abs(coloured_box(edited.image, 2) - edited.boxes[1]).max() <= 1.0
    # The same objects, nearer: colour and background tone unchanged.
    x0, y0, x1, y1 = edited.boxes[0].round().astype(int)
    assert np.abs(edited.image[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2] - [220, 30, 30]).max() <= 1
    assert np.median(edited.image.reshape(-1, 3), axis=0).tolist() == [90, 90, 90]


def test_an_object_already_large_is_left_as_it_is() -> None:
    image, boxes = scene()
    edited = enlarge_around(image, boxes, focus=1, target=(0.01, 0.02))
    assert np.array_equal(edited.image, image)
    assert np.array_equal(edited.boxes, boxes)
    assert edited.landed


def test_the_placebo_is_an_attribute_the_hypothesis_does_not_blame() -> None:
    edges = {name: [1.0, 2.0, 3.0, 4.0] for name in ("brightness", "sharpness", "contrast")}
    dark = factor_to_remove("s", "brightness", "low", "brightness=low", edges, ["brightness"])
    soft = factor_to_remove("s", "sharpness", "low", "sharpness=low", edges, ["sharpness"])
    assert isinstance(dark, Factor) and isinstance(soft, Factor)
    assert (dark.placebo, soft.placebo) == ("sharpness", "contrast")
    assert dark.target == (2.0, 3.0)  # the middle bins
