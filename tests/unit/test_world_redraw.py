"""The demo world's exact counterfactual: a field image drawn again is the saved file to the last
pixel, and drawn again by day its night scene keeps every box and gets brighter."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tools.image_attributes import brightness
from tools.world.config import WorldConfig
from tools.world.field import render_field
from tools.world.redraw import redraw

# Test split: every condition equally often, so 16 images hold nights and days.
CONFIG = WorldConfig(seed=3, image_size=64, splits={"train": 0, "val": 0, "test": 16})


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory) -> list:
    return list(render_field(CONFIG, tmp_path_factory.mktemp("field"), "test"))


def test_a_redraw_without_changes_is_the_field_file(field: list) -> None:
    for index, shot in enumerate(field[:4]):
        again = redraw(CONFIG, "test", index, {})
        with Image.open(shot.path) as saved:
            assert np.array_equal(again.original, np.asarray(saved.convert("RGB")))
        assert np.array_equal(again.changed, again.original)
        assert np.array_equal(again.boxes, shot.boxes)
        assert again.conditions == shot.conditions


def test_a_night_redrawn_by_day_keeps_its_boxes_and_brightens(field: list) -> None:
    nights = [k for k, shot in enumerate(field) if shot.conditions.lighting == "night"]
    assert nights, "the uniform test split draws some nights"
    for index in nights:
        twin = redraw(CONFIG, "test", index, {"lighting": "day"})
        assert np.array_equal(twin.boxes, field[index].boxes)
        assert np.array_equal(twin.class_ids, field[index].class_ids)
        assert brightness(twin.changed) > brightness(twin.original) + 30
        assert twin.conditions.lighting == "night"  # what it was shot in


def test_conditions_that_move_objects_are_refused() -> None:
    with pytest.raises(ValueError, match="distance would move the objects"):
        redraw(CONFIG, "test", 0, {"distance": "near"})


def test_a_value_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="lighting"):
        redraw(CONFIG, "test", 0, {"lighting": "noon"})
