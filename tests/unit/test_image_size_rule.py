"""The image size `init --import` picks: from the images and the smallest class's objects, capped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.control.image_size import CPU_CAP, choose_image_size
from storage.datasets import LabeledImage
from tools.convert import make_detections


def _dataset(
    objects: list[tuple[int, int]], width: int = 640, height: int = 480, class_id: int = 0
) -> list[LabeledImage]:
    """One image per (box width, box height), each box of class `class_id`."""
    return [
        LabeledImage(
            Path(f"{k}.jpg"),
            make_detections(np.array([[10, 10, 10 + w, 10 + h]]), np.array([class_id])),
            width,
            height,
        )
        for k, (w, h) in enumerate(objects)
    ]


def test_big_objects_keep_the_smallest_size() -> None:
    choice = choose_image_size(_dataset([(200, 150)] * 20), ["cell"])
    assert choice.imgsz == 160
    assert choice.reason == (
        "image size 160: the 10th-percentile cell object is 150 px at 640; 160 keeps it at 38 px "
        "(at least 16 wanted; 160 is the smallest size used)"
    )


def test_small_objects_get_the_smallest_size_that_keeps_them_16_px() -> None:
    # The shorter side, 60 px at 640, needs 192 (16 / (60/640) = 170.7, up to a multiple of 32).
    choice = choose_image_size(_dataset([(60, 90)] * 20), ["cell"])
    assert choice.imgsz == 192
    assert choice.reason.endswith(
        "192 keeps it at 18 px (the smallest size that keeps at least 16)"
    )


def test_tiny_objects_are_capped_for_cpu_training() -> None:
    choice = choose_image_size(_dataset([(12, 12)] * 20), ["dot"])
    assert choice.imgsz == CPU_CAP == 192
    assert choice.reason == (
        "image size 192: the 10th-percentile dot object is 12 px at 640; 192 keeps it at 4 px "
        "(864 would keep 16; capped at 192 for CPU training)"
    )


def test_a_rare_small_class_is_not_outvoted_by_a_common_big_one() -> None:
    images = _dataset([(150, 150)] * 90) + _dataset([(32, 32)] * 10, class_id=1)
    # The 10th percentile of all objects is a big one (160 would do); the small class's is 32 px.
    choice = choose_image_size(images, ["big", "small"])
    assert choice.imgsz == 192
    assert "the 10th-percentile small object is 32 px at 640" in choice.reason


def test_small_images_are_not_enlarged_past_their_size() -> None:
    choice = choose_image_size(_dataset([(4, 4)] * 10, width=96, height=64), ["dot"])
    assert choice.imgsz == 96
    assert choice.reason.endswith("the images are not enlarged past their size)")


@pytest.mark.parametrize(("side", "size"), [(100, 128), (150, 160), (700, 192)])
def test_the_median_long_side_bounds_it_rounded_up_to_a_stride(side: int, size: int) -> None:
    choice = choose_image_size(_dataset([(10, 10)] * 10, width=side, height=side // 2), ["dot"])
    assert choice.imgsz == size
