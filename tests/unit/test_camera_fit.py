"""The field camera estimated from rendered field images recovers the camera that made them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tools.generator.base import GenerationRequest
from tools.generator.camera_fit import (
    clean_renders,
    degradation_statistics,
    fit_camera,
)
from tools.generator.procedural import ProceduralGenerator
from tools.image_filters import laplacian, median3x3
from tools.world.camera import CameraProfile
from tools.world.config import WorldConfig
from tools.world.field import render_field


@pytest.mark.parametrize(
    "camera",
    [
        CameraProfile(),  # the default field camera: blur 0.6, noise 4, JPEG 70, warm cast
        CameraProfile(noise_sigma=8, blur_sigma=0.0, jpeg_quality=50, color_cast=(0.95, 1, 1.05)),
    ],
)
def test_the_estimate_recovers_blur_noise_jpeg_and_cast(
    tmp_path: Path, camera: CameraProfile
) -> None:
    images = list(render_field(WorldConfig(camera=camera), tmp_path, "train", count=16))
    field = [np.asarray(Image.open(i.path).convert("RGB")) for i in images]
    # Clean renders of other scenes under the same conditions: the camera is all that differs.
    clean = clean_renders([i.conditions.model_dump() for i in images], 160, seed=5)
    estimate = fit_camera(field, clean)
    # Tolerances: one step of the search grid for blur and noise, one for JPEG quality.
    assert estimate.blur_sigma == pytest.approx(camera.blur_sigma, abs=0.3)
    assert estimate.noise_sigma == pytest.approx(camera.noise_sigma, abs=2.0)
    assert estimate.jpeg_quality == pytest.approx(camera.jpeg_quality, abs=20)
    assert estimate.color_cast == pytest.approx(camera.color_cast, abs=0.03)


@pytest.mark.parametrize("levels", [256, 4])  # every grey level, and many ties
def test_the_median_filter_is_pils_to_the_last_grey_level(levels: int) -> None:
    rng = np.random.default_rng(levels)
    gray = (rng.integers(0, levels, (37, 53)) * (255 // (levels - 1))).astype(np.uint8)
    expected = np.asarray(Image.fromarray(gray).filter(ImageFilter.MedianFilter(3)))
    assert np.array_equal(median3x3(gray), expected)


def test_the_laplacian_is_four_times_a_pixel_less_its_four_neighbours() -> None:
    luma = np.zeros((5, 6), dtype=np.float32)
    luma[2, 3] = 10.0
    expected = np.zeros((3, 4), dtype=np.float32)
    expected[1, 2] = 40.0  # the bright pixel, at (2, 3) of the image
    expected[0, 2] = expected[2, 2] = expected[1, 1] = expected[1, 3] = -10.0  # its neighbours
    assert np.array_equal(laplacian(luma), expected)


def test_rendering_through_the_estimate_looks_like_the_field(tmp_path: Path) -> None:
    request = GenerationRequest(
        id="r",
        slice_name="s",
        prompt="p",
        conditions={"lighting": "day", "weather": "clear", "distance": "far", "crowding": "sparse"},
        seed=3,
    )
    camera = CameraProfile(noise_sigma=6, blur_sigma=0.9, jpeg_quality=50)
    generator = ProceduralGenerator(camera=CameraProfile(noise_sigma=0, blur_sigma=0))
    (clean,), _ = generator.generate([request], tmp_path / "clean", 160)
    through = request.model_copy(update={"realism": 1.0, "camera": camera})
    (degraded,), _ = generator.generate([through], tmp_path / "field", 160)
    sharp = degradation_statistics(np.asarray(Image.open(clean.path).convert("RGB")))
    soft = degradation_statistics(np.asarray(Image.open(degraded.path).convert("RGB")))
    # The request's camera is used (not the generator's own): blurrier and noisier.
    assert soft[0] < sharp[0] and soft[1] > sharp[1]


def test_a_workspace_estimates_its_camera_once(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from agent.settings import Settings
    from agent.steps.camera import CAMERA_FILE, field_camera
    from storage.workspace import Workspace
    from tests.fakes import FieldDatasets

    images = [i for i in render_field(WorldConfig(), tmp_path / "field", "train", count=12)]
    deps = SimpleNamespace(
        settings=Settings(workspace=tmp_path, workspace_id="cam"),
        workspace=Workspace(tmp_path),
        datasets=FieldDatasets([i for i in images if len(i.boxes)], 160),
    )
    first = field_camera(deps, images=8)  # type: ignore[arg-type]
    stored = (tmp_path / CAMERA_FILE).read_text()
    assert first.blur_sigma == pytest.approx(0.6, abs=0.3)
    assert field_camera(deps) == first and (tmp_path / CAMERA_FILE).read_text() == stored  # type: ignore[arg-type]
