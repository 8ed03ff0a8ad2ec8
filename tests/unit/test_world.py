"""The demo world: determinism, exact boxes, and conditions that change pixels as a camera would."""

from __future__ import annotations

import numpy as np
import pytest

from tools.world.render import render
from tools.world.sampler import sample_scene
from tools.world.scene import Conditions

SEEDS = range(12)


def _images(**conditions: str) -> list:
    return [render(sample_scene(Conditions(**conditions), seed=s, size=96)) for s in SEEDS]


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def test_same_seed_gives_same_pixels_and_boxes() -> None:
    a = render(sample_scene(Conditions(weather="rain"), seed=5))
    b = render(sample_scene(Conditions(weather="rain"), seed=5))
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.boxes, b.boxes)
    c = render(sample_scene(Conditions(weather="rain"), seed=6))
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("weather", ["clear", "rain", "fog", "snow"])
@pytest.mark.parametrize("crowding", ["sparse", "dense"])
def test_boxes_lie_inside_the_image_and_are_not_degenerate(weather: str, crowding: str) -> None:
    for result in _images(weather=weather, crowding=crowding):
        size = result.image.shape[0]
        assert result.image.shape == (size, size, 3) and result.image.dtype == np.uint8
        assert len(result.boxes) == len(result.class_ids)
        if len(result.boxes):
            assert (result.boxes[:, :2] >= 0).all() and (result.boxes[:, 2:] <= size).all()
            assert (result.boxes[:, 2] - result.boxes[:, 0] >= 2).all()
            assert (result.boxes[:, 3] - result.boxes[:, 1] >= 2).all()


def test_night_is_darker_than_dusk_which_is_darker_than_day() -> None:
    means = {
        light: np.mean([_luma(r.image).mean() for r in _images(lighting=light)])
        for light in ("day", "dusk", "night")
    }
    assert means["night"] < 0.7 * means["dusk"]
    assert means["dusk"] < 0.8 * means["day"]


def test_night_scenes_have_lights_brighter_than_their_surroundings() -> None:
    for result in _images(lighting="night"):
        luma = _luma(result.image)
        assert np.percentile(luma, 99.5) > 4 * np.median(luma)


def test_fog_and_snow_lower_contrast() -> None:
    contrast = {
        w: np.mean([_luma(r.image).std() for r in _images(weather=w)])
        for w in ("clear", "fog", "snow")
    }
    assert contrast["fog"] < 0.7 * contrast["clear"]
    assert contrast["snow"] < 0.8 * contrast["clear"]


def test_rain_and_snow_add_high_frequency_energy() -> None:
    def energy(weather: str) -> float:
        return float(
            np.mean(
                [np.abs(np.diff(_luma(r.image), axis=0)).mean() for r in _images(weather=weather)]
            )
        )

    assert energy("rain") > energy("fog")
    assert energy("snow") > energy("fog")


def test_far_objects_are_smaller_than_near_ones_and_dense_scenes_overlap() -> None:
    def mean_height(distance: str) -> float:
        heights = [b[3] - b[1] for r in _images(distance=distance) for b in r.boxes]
        return float(np.mean(heights))

    assert mean_height("far") < 0.7 * mean_height("mid") < 0.5 * mean_height("near")

    def overlapping_pairs(crowding: str) -> int:
        count = 0
        for result in _images(crowding=crowding):
            boxes = result.boxes
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    ix = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
                    iy = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
                    count += ix > 0 and iy > 0
        return count

    assert overlapping_pairs("dense") > 3 * max(overlapping_pairs("sparse"), 1)
