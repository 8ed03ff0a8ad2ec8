"""The field camera estimated from field images (analysis by synthesis), never from the world's settings.

Clean renders of scenes like the field's are passed through candidate cameras (blur, noise, JPEG
quality); the candidate whose images' sharpness, fine noise and JPEG blockiness match the field
images' best is the estimate. The colour cast is the ratio of channel means, field over clean.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence

import numpy as np
from PIL import Image

from tools.image_filters import laplacian, median3x3, rgb_to_luma
from tools.world.camera import CameraProfile
from tools.world.render import render
from tools.world.sampler import sample_scene
from tools.world.scene import Conditions

BLURS = (0.0, 0.3, 0.6, 0.9, 1.2)
NOISES = (0.0, 2.0, 4.0, 6.0, 8.0)
QUALITIES = (50, 70, 90)


def degradation_statistics(rgb: np.ndarray) -> np.ndarray:
    """(log sharpness, fine noise, JPEG blockiness) of one (H, W, 3) uint8 image."""
    luma = rgb_to_luma(rgb)
    smooth = median3x3(luma.astype(np.uint8)).astype(np.float32)
    noise = float(np.median(np.abs(luma - smooth)))
    across = np.abs(np.diff(luma, axis=1))
    boundary = across[:, 7::8].mean() if across.shape[1] > 8 else 0.0
    blockiness = float(boundary - across.mean())
    return np.array([np.log1p(laplacian(luma).var()), noise, blockiness])


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))


def clean_renders(
    conditions: Sequence[dict[str, str]], size: int, seed: int = 0
) -> list[np.ndarray]:
    """Renders of scenes under the given (estimated) conditions, with no camera at all."""
    return [
        render(sample_scene(Conditions.model_validate(c), seed * 100_003 + k, size)).image
        for k, c in enumerate(conditions)
    ]


def fit_camera(field: Sequence[np.ndarray], clean: Sequence[np.ndarray]) -> CameraProfile:
    """The camera that makes `clean` renders look most like the `field` images (see the module)."""
    target = np.median([degradation_statistics(f) for f in field], axis=0)
    scale = np.array([1.0, 1.0, 1.0])
    best: tuple[float, CameraProfile] | None = None
    for blur, noise in itertools.product(BLURS, NOISES):
        sensor = CameraProfile(noise_sigma=noise, blur_sigma=blur, color_cast=(1, 1, 1))
        # Blur and noise come before the JPEG: made once, compressed at every quality.
        degraded = [sensor.apply(c, np.random.default_rng(k)) for k, c in enumerate(clean)]
        for quality in QUALITIES:
            stats = np.median([degradation_statistics(_jpeg(d, quality)) for d in degraded], axis=0)
            distance = float((((stats - target) / scale) ** 2).sum())
            if best is None or distance < best[0]:
                best = (distance, sensor.model_copy(update={"jpeg_quality": quality}))
    assert best is not None
    field_means = np.mean([f.reshape(-1, 3).mean(axis=0) for f in field], axis=0)
    clean_means = np.mean([c.reshape(-1, 3).mean(axis=0) for c in clean], axis=0)
    gains = field_means / np.maximum(clean_means, 1e-6)
    cast = (
        gains / gains[1]
    )  # relative to green: overall brightness is the scene's, not the camera's
    return best[1].model_copy(update={"color_cast": tuple(float(g) for g in cast)})
