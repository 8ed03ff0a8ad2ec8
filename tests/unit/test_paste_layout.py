"""Occlusion and placement of pasted objects: what is covered shrinks or is dropped, overlaps
land in their range, boxes hold their objects."""

from __future__ import annotations

import numpy as np
import pytest

from tools.generator.paste_layout import (
    CLEAR_IOU,
    KEEP_VISIBLE,
    background_layer,
    iou_at_offset,
    max_ious,
    occlude,
    offset_for_iou,
    pasted_layer,
    place,
)


def block(height: int, width: int) -> np.ndarray:
    return np.ones((height, width), dtype=bool)


def test_an_object_covered_on_one_side_shrinks_to_what_shows() -> None:
    layer = background_layer((10.0, 20.0, 50.0, 60.0), "cell", 200, 200)
    after = occlude(layer, block(50, 15), (0, 10))  # covers x 0..15 of the object's 10..50
    assert after is not None
    assert after.box == (15.0, 20.0, 50.0, 60.0)


def test_an_object_covered_in_its_middle_keeps_its_box() -> None:
    layer = background_layer((10.5, 20.25, 50.5, 60.75), "cell", 200, 200)
    after = occlude(layer, block(10, 10), (25, 35))
    assert after is not None
    assert after.box == layer.box  # still seen from edge to edge: the same floats
    assert after.visible.sum() == layer.area - 100


def test_an_object_mostly_covered_is_dropped() -> None:
    layer = background_layer((10.0, 10.0, 30.0, 30.0), "cell", 100, 100)
    covered_share = 1 - KEEP_VISIBLE + 0.05
    assert occlude(layer, block(20, round(20 * covered_share)), (10, 10)) is None
    kept = occlude(layer, block(20, round(20 * (1 - KEEP_VISIBLE - 0.05))), (10, 10))
    assert kept is not None


def test_a_loose_label_keeps_its_margins_when_its_object_shrinks() -> None:
    # A 10x10 object labelled with a 5-pixel margin all round (as BCCD labels platelets).
    mask = block(10, 10)
    layer = pasted_layer(mask, (50, 50), "platelet", "a", label=(-5.0, -5.0, 15.0, 15.0))
    assert layer.box == (45.0, 45.0, 65.0, 65.0)
    after = occlude(layer, block(10, 4), (56, 50))  # hides the object's right 4 columns
    assert after is not None
    assert after.box == (45.0, 45.0, 61.0, 65.0)


def test_a_label_always_holds_its_mask() -> None:
    layer = pasted_layer(block(8, 6), (10, 10), "x", "a", label=(1.0, 1.0, 5.0, 7.0))
    assert layer.box == (10.0, 10.0, 16.0, 18.0)


@pytest.mark.parametrize("iou", [0.05, 0.2, 0.45, 0.6])  # at most 2000 / 3000 here
@pytest.mark.parametrize("angle", [0.0, 1.0, 2.5, 4.0])
def test_a_box_slid_along_a_ray_reaches_the_asked_iou(iou: float, angle: float) -> None:
    partner = (100.0, 100.0, 160.0, 150.0)
    dx, dy = offset_for_iou(50, 40, partner, iou, angle)
    assert iou_at_offset(50, 40, partner, dx, dy) == pytest.approx(iou, abs=1e-3)


def test_placements_land_the_overlap_or_keep_clear() -> None:
    rng = np.random.default_rng(0)
    layers = [
        background_layer(box, "cell", 400, 300)
        for box in [(20, 20, 80, 80), (200, 50, 260, 120), (100, 180, 170, 250)]
    ]
    for k in range(3):
        placement = place(
            layers, block(40, 40), "cell", f"p{k}", (400, 300), rng, overlap=(0.2, 0.4)
        )
        assert not placement.missed
        layers = placement.layers
    pasted = [i for i, layer in enumerate(layers) if layer.source is not None]
    assert all(0.2 <= v <= 0.4 for v in max_ious(layers)[pasted])
    clear = place(layers, block(20, 20), "cell", "q", (400, 300), rng)
    assert max_ious(clear.layers)[-1] <= CLEAR_IOU
    assert not clear.missed and not clear.dropped


def test_an_object_larger_than_the_image_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        place([], block(50, 500), "x", "a", (400, 300), np.random.default_rng(0))
