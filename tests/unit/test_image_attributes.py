"""Attribute measurement moved into tools/: the same numbers discovery has always binned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import supervision as sv
from PIL import Image, ImageFilter

from evaluation.slices import build_object_table, image_statistics
from tools.image_attributes import (
    IMAGE_ATTRIBUTES,
    PIXEL_MEASURES,
    box_sizes,
    jpeg_quality,
    max_overlaps,
    measure_file,
    measure_image,
)
from tools.image_filters import laplacian, median3x3, rgb_to_luma


def discovery_before_the_move(path: str) -> dict[str, float]:
    """evaluation/slices.image_statistics as it was before the measurement moved (commit
    5ad0643), kept verbatim so that the move is shown to change no number."""
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    luma = rgb_to_luma(rgb)
    dark = rgb.min(axis=2)
    dark_channel = np.asarray(
        Image.fromarray(dark.astype(np.uint8)).filter(ImageFilter.MinFilter(5)), dtype=np.float32
    )
    smooth = median3x3(luma.astype(np.uint8)).astype(np.float32)
    residual = luma - smooth
    return {
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
        "haze": float(dark_channel.mean()),
        "streaks": float(np.abs(np.diff(residual, axis=1)).mean()),
        "specks": float((residual > 40).mean()),
        "sharpness": float(laplacian(luma).var()),
    }


@pytest.fixture(scope="module")
def photographs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photographs")
    rng = np.random.default_rng(0)
    images = {
        "coffee.png": skimage.data.coffee(),
        "astronaut.jpg": skimage.data.astronaut(),
        "camera.png": np.stack([skimage.data.camera()] * 3, axis=2),
        "noise.png": rng.integers(0, 256, (37, 53, 3), dtype=np.uint8),
        "tiny.png": rng.integers(0, 256, (3, 4, 3), dtype=np.uint8),
    }
    paths = []
    for name, pixels in images.items():
        Image.fromarray(pixels).save(folder / name)
        paths.append(folder / name)
    return paths


def test_discovery_reads_the_same_numbers_as_before_the_move(photographs: list[Path]) -> None:
    for path in photographs:
        assert image_statistics(str(path)) == discovery_before_the_move(str(path))


def test_every_pixel_measure_agrees_with_the_combined_one(photographs: list[Path]) -> None:
    for path in photographs:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
        together = measure_image(rgb, list(PIXEL_MEASURES))
        alone = {name: measure(rgb) for name, measure in PIXEL_MEASURES.items()}
        assert together == alone
        assert measure_file(path, IMAGE_ATTRIBUTES) == image_statistics(str(path))


def test_box_size_and_overlap_are_discoverys(photographs: list[Path]) -> None:
    boxes = np.array([[10, 10, 60, 40], [30, 20, 90, 70], [200, 200, 210, 260]], dtype=float)
    truth = sv.Detections(xyxy=boxes, class_id=np.zeros(3, dtype=int))
    table = build_object_table(
        ["a"], [str(photographs[0])], [600], [truth], [sv.Detections.empty()], ["x"], 0.5
    )
    np.testing.assert_array_equal(box_sizes(boxes, 600), table.values["box_size"])
    np.testing.assert_array_equal(max_overlaps(boxes), table.values["overlap"])
    assert max_overlaps(boxes[:1]).tolist() == [0.0]


@pytest.mark.parametrize("quality", [12, 50, 75, 95])
def test_jpeg_quality_is_read_from_the_files_tables(tmp_path: Path, quality: int) -> None:
    path = tmp_path / "q.jpg"
    Image.fromarray(skimage.data.coffee()).save(path, "JPEG", quality=quality)
    assert jpeg_quality(path) == quality
    Image.fromarray(skimage.data.coffee()).save(tmp_path / "q.png")
    assert jpeg_quality(tmp_path / "q.png") == 100
