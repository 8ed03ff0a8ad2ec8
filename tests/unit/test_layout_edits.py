"""Layout edits: a real layout moved to the requested distance and crowding, every box exact."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tools.world.layout import (
    DISTANCE_SIZE,
    _iou,
    about,
    add_occluders,
    box_size,
    distance_factor,
    fit_layout,
    is_crowded,
    shrink_image,
)
from tools.world.sampler import restage_scene, sample_scene
from tools.world.scene import Conditions

NEAR = [(40.0, 70.0, 100.0, 150.0, "person"), (100.0, 110.0, 150.0, 150.0, "car")]


def test_a_near_layout_asked_to_be_far_is_rescaled_about_the_vanishing_point() -> None:
    conditions = {"distance": "far", "crowding": "sparse"}
    fitted = fit_layout(NEAR, conditions, 160, horizon=64.0, seed=0)
    factor = distance_factor(NEAR, "far", 160)
    assert 0 < factor < 1
    # Every box moves by one map: scaled about (80, 64), corners and class exact.
    assert fitted == [about(factor, (80.0, 64.0)).box(b) for b in NEAR]
    assert fitted[0] == pytest.approx(
        (
            80 + factor * (40 - 80),
            64 + factor * (70 - 64),
            80 + factor * 20,
            64 + factor * 86,
            "person",
        )
    )
    assert np.median([box_size(b, 160) for b in fitted]) == pytest.approx(DISTANCE_SIZE["far"])
    # A layout already far stays as it is.
    assert fit_layout(fitted, conditions, 160, horizon=64.0, seed=0) == fitted


def test_a_sparse_layout_asked_to_be_dense_gets_occluders_and_keeps_its_boxes() -> None:
    sparse = [(20.0, 80.0, 40.0, 130.0, "person"), (100.0, 110.0, 150.0, 135.0, "car")]
    assert not is_crowded(sparse)
    for seed in range(20):
        crowded = add_occluders(sparse, np.random.default_rng(seed), 160)
        assert crowded[:2] == sparse and 3 <= len(crowded) <= 6
        # Every occluder overlaps an object it stands beside, inside the frame.
        for x0, y0, x1, y1, cls in crowded[2:]:
            assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 160
            overlaps = [_iou((x0, y0, x1, y1, cls), b) for b in sparse]
            assert max(overlaps) > 0.05
    fitted = fit_layout(sparse, {"distance": "mid", "crowding": "dense"}, 160, 64.0, seed=3)
    assert fitted[:2] == sparse and is_crowded(fitted)
    # Nothing to stand beside, or a crowd already: nothing added.
    assert add_occluders([(10.0, 10.0, 10.0, 10.0, "car")], np.random.default_rng(0), 160) == [
        (10.0, 10.0, 10.0, 10.0, "car")
    ]
    six = [(float(10 * i), 10.0, float(10 * i + 5), 20.0, "sign") for i in range(6)]
    assert add_occluders(six, np.random.default_rng(0), 160) == six


def test_a_far_layout_asked_to_be_near_grows_no_further_than_the_frame() -> None:
    far = [(70.0, 60.0, 76.0, 75.0, "person"), (90.0, 66.0, 110.0, 76.0, "car")]
    fitted = fit_layout(far, {"distance": "near"}, 160, horizon=64.0, seed=0)
    assert all(min(x0, y0) >= 0 and max(x1, y1) <= 160 for x0, y0, x1, y1, _ in fitted)
    assert max(b[2] for b in fitted) == pytest.approx(160)  # as near as the frame allows
    assert distance_factor(far, "near", 160) > (fitted[1][2] - fitted[1][0]) / 20
    # No distance asked: the layout stays where it is.
    assert fit_layout(far, {"lighting": "night"}, 160, horizon=64.0, seed=0) == far


def test_a_fitted_edit_stands_its_objects_exactly_on_the_moved_boxes() -> None:
    conditions = Conditions(lighting="night", weather="fog", distance="far", crowding="sparse")
    spec = restage_scene(NEAR, conditions, seed=5, size=160, fit=True)
    horizon = sample_scene(conditions, 5, 160).horizon * 160
    moved = fit_layout(NEAR, conditions.tags(), 160, horizon, 5)
    assert moved != NEAR
    placed = sorted((o.x, o.y, o.height, o.cls) for o in spec.objects)
    wanted = sorted(((x0 + x1) / 2, y1, y1 - y0, cls) for x0, y0, x1, y1, cls in moved)
    assert placed == wanted
    # Without `fit` the layout is kept as it was.
    kept = restage_scene(NEAR, conditions, seed=5, size=160)
    assert sorted(o.y for o in kept.objects) == [150.0, 150.0]


def test_a_shrunk_image_moves_its_pixels_by_the_same_map_as_its_boxes() -> None:
    pixels = np.full((96, 96, 3), 200, np.uint8)
    pixels[24:72, 12:60] = (255, 0, 0)  # one red object, box (12, 24, 60, 72)
    shrunk, moved = shrink_image(Image.fromarray(pixels), 0.5, horizon=0.4)
    x0, y0, x1, y1, _ = moved.box((12.0, 24.0, 60.0, 72.0, "car"))
    assert (moved.sx, moved.sy) == (0.5, 0.5) and (x0, y0, x1, y1) == (30.0, 31.0, 54.0, 55.0)
    out = np.asarray(shrunk).astype(int)
    assert (out[int(y0) + 1 : int(y1) - 1, int(x0) + 1 : int(x1) - 1] == (255, 0, 0)).all()
    # Just outside the moved box the object is gone: the red is where the box says, nowhere else.
    assert (out[int(y1) + 1 :, :, 1] > 100).all() and (out[:, int(x1) + 1 :, 1] > 100).all()
    with pytest.raises(ValueError, match="shrunk, not enlarged"):
        shrink_image(Image.fromarray(pixels), 1.5)
    with pytest.raises(ValueError, match="share of the image height"):
        shrink_image(Image.fromarray(pixels), 0.5, horizon=42)
