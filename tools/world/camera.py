"""The field camera: sensor noise, blur and colour cast that make field images look like real captures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, Field


class CameraProfile(BaseModel):
    """How a camera degrades what it sees; field images are saved as JPEG at `jpeg_quality`."""

    noise_sigma: float = Field(4.0, ge=0, description="Gaussian sensor noise, in grey levels")
    blur_sigma: float = Field(0.6, ge=0, description="optical blur radius, pixels")
    jpeg_quality: int = Field(70, ge=10, le=100)
    color_cast: tuple[float, float, float] = Field(
        (1.04, 1.0, 0.94), description="per-channel gain (warm sensor)"
    )

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Blur, cast and noise applied to an (H, W, 3) uint8 image; JPEG happens on save."""
        pil = Image.fromarray(image)
        if self.blur_sigma > 0:
            pil = pil.filter(ImageFilter.GaussianBlur(self.blur_sigma))
        pixels = np.asarray(pil, dtype=np.float32) * np.array(self.color_cast, dtype=np.float32)
        if self.noise_sigma > 0:
            pixels += rng.normal(0, self.noise_sigma, pixels.shape).astype(np.float32)
        return np.clip(pixels, 0, 255).astype(np.uint8)

    def at(self, strength: float) -> CameraProfile:
        """This camera with `strength` (0-1) of its noise, blur and colour cast."""
        return CameraProfile(
            noise_sigma=self.noise_sigma * strength,
            blur_sigma=self.blur_sigma * strength,
            jpeg_quality=self.jpeg_quality,
            color_cast=(
                1 + (self.color_cast[0] - 1) * strength,
                1 + (self.color_cast[1] - 1) * strength,
                1 + (self.color_cast[2] - 1) * strength,
            ),
        )


def capture(
    image: np.ndarray, stem: Path, camera: CameraProfile | None, strength: float, seed: int
) -> Path:
    """Save an image as `camera` would have taken it, with `strength` of its degradation: a
    JPEG at the camera's quality, or a clean PNG at strength 0 (or with no camera)."""
    if camera is None or strength <= 0:
        path = Path(f"{stem}.png")  # ids may hold dots: never with_suffix
        Image.fromarray(image).save(path)
        return path
    through = camera.at(strength)
    path = Path(f"{stem}.jpg")
    pixels = through.apply(image, np.random.default_rng(seed))
    Image.fromarray(pixels).save(path, quality=through.jpeg_quality)
    return path
