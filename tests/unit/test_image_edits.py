"""Attribute edits on photographs: each moves its attribute into a target range (measured back
with discovery's function), leaves what it should alone, and keeps objects where they were."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from tools.image_attributes import PIXEL_MEASURES, jpeg_quality, measure_image
from tools.image_edit_ops import EDITS, apply_edit
from tools.image_edits import edit_toward, fit_edit


@pytest.fixture(scope="module")
def photograph() -> np.ndarray:
    """A 640x480 photograph (BCCD's size) with a green square: an object whose box is known."""
    image = cv2.resize(skimage.data.coffee(), (640, 480), interpolation=cv2.INTER_AREA)
    image[200:260, 300:380] = (40, 200, 40)
    return image


def square_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """The box of the green pixels near the square: greener than half the square's middle."""
    pixels = image[180:280, 280:400].astype(np.float32)
    greenness = pixels[..., 1] - pixels[..., [0, 2]].max(axis=2)
    window = greenness > greenness[35:45, 50:70].mean() / 2
    rows, cols = np.flatnonzero(window.any(axis=1)), np.flatnonzero(window.any(axis=0))
    return 280 + cols[0], 180 + rows[0], 280 + cols[-1] + 1, 180 + rows[-1] + 1


@pytest.mark.parametrize("name", list(EDITS))
def test_each_edit_raises_its_attribute_with_its_strength(
    photograph: np.ndarray, name: str
) -> None:
    spec = EDITS[name]
    strengths = [spec.lowest, spec.lowest / 2, 0.0, spec.highest / 4, spec.highest]
    values = [PIXEL_MEASURES[name](apply_edit(photograph, name, s, seed=3)) for s in strengths]
    assert values == sorted(values)
    assert values[0] < values[2] < values[-1]
    assert apply_edit(photograph, name, 0.0) is photograph


@pytest.mark.parametrize(
    "name", ["brightness", "contrast", "haze", "sharpness", "noise", "colour_cast"]
)
@pytest.mark.parametrize("direction", [-1, 1])
def test_a_target_range_is_landed_and_measured_back(
    photograph: np.ndarray, name: str, direction: int
) -> None:
    measure = PIXEL_MEASURES[name]
    now = measure(photograph)
    # A range a fifth of the current value wide, centred 30% above or below it.
    centre = now * (1 + 0.3 * direction)
    low, high = centre - 0.1 * abs(now), centre + 0.1 * abs(now)
    edited, fit = fit_edit(photograph, name, low, high, seed=1)
    assert fit.landed
    assert low <= measure(edited) <= high
    assert fit.value == measure(edited)
    assert edited.shape == photograph.shape and edited.dtype == np.uint8


@pytest.mark.parametrize(
    ("name", "strength"),
    [
        ("contrast", 0.3),
        ("contrast", -0.6),
        ("sharpness", -2.0),
        ("sharpness", 1.5),
        ("noise", 8.0),
    ],
)
def test_edits_that_should_keep_the_brightness_keep_it(
    photograph: np.ndarray, name: str, strength: float
) -> None:
    before = PIXEL_MEASURES["brightness"](photograph)
    after = PIXEL_MEASURES["brightness"](apply_edit(photograph, name, strength, seed=2))
    assert abs(after - before) < 0.03 * before  # clipping at black and white moves it a little


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edit_leaves_objects_where_they_were(photograph: np.ndarray, name: str) -> None:
    spec = EDITS[name]
    # Moderate edits (a quarter of the way to either end): the square stays where it was.
    for strength in (spec.lowest / 4, spec.highest / 4):
        edited = apply_edit(photograph, name, strength, seed=5)
        box = square_box(edited)
        assert np.abs(np.array(box) - (300, 200, 380, 260)).max() <= 1, (strength, box)


def test_a_range_out_of_reach_says_so_and_gives_the_nearest(photograph: np.ndarray) -> None:
    edited, fit = fit_edit(photograph, "brightness", 300.0, 310.0)
    assert not fit.landed
    assert fit.value == PIXEL_MEASURES["brightness"](edited)
    assert fit.value > 200  # as bright as gamma makes it


def test_attributes_that_move_together_are_landed_together(photograph: np.ndarray) -> None:
    # Haze (the dark channel) and brightness follow any tone change together; hazier but darker
    # needs both edits at once.
    stats = measure_image(photograph, ["brightness", "haze", "sharpness"])
    targets = {
        "brightness": (stats["brightness"] - 12, stats["brightness"] - 8),
        "haze": (stats["haze"] + 8, stats["haze"] + 12),
        "sharpness": (stats["sharpness"] * 0.5, stats["sharpness"] * 0.6),
    }
    result = edit_toward(photograph, targets, seed=4)
    assert result.jpeg_quality is None
    values = measure_image(result.image, list(targets))
    for name, (low, high) in targets.items():
        assert low <= values[name] <= high, name
        assert result.fits[name].landed and result.fits[name].value == values[name]


def test_a_jpeg_quality_is_the_file_and_the_rest_is_measured_through_it(
    photograph: np.ndarray, tmp_path: Path
) -> None:
    contrast = PIXEL_MEASURES["contrast"](photograph)
    targets = {"jpeg_quality": (20.0, 30.0), "contrast": (contrast * 1.2, contrast * 1.3)}
    result = edit_toward(photograph, targets, seed=0)
    assert result.jpeg_quality == 25
    path = tmp_path / "made.jpg"
    Image.fromarray(result.image).save(path, "JPEG", quality=result.jpeg_quality)
    with Image.open(path) as saved:
        pixels = np.asarray(saved.convert("RGB"))
    np.testing.assert_array_equal(pixels, result.decoded())
    assert jpeg_quality(path) == 25
    assert contrast * 1.2 <= PIXEL_MEASURES["contrast"](pixels) <= contrast * 1.3


def test_the_same_seed_makes_the_same_image(photograph: np.ndarray) -> None:
    targets = {"noise": (6.0, 7.0), "specks": (0.01, 0.02)}
    first = edit_toward(photograph, targets, seed=9).image
    np.testing.assert_array_equal(first, edit_toward(photograph, targets, seed=9).image)
    assert not np.array_equal(first, edit_toward(photograph, targets, seed=10).image)
