"""Edits that move one measured attribute of an image and keep its boxes.

Each edit is `(image, strength) -> image` on (H, W, 3) uint8 RGB arrays: strength 0 leaves the
image as it is and the measured attribute rises with the strength (monotone, up to clipping), so
tools/image_edits can search the strength that lands a target. Pixel operations come from
kornia: its functional ops take the strength as an argument and draw nothing at random, which a
search needs (albumentations' transforms draw their strengths from ranges, and 2.0.8, its last
MIT release, is frozen). Written by hand only where kornia has no op: the scattering model of
haze, the grain of noise, specks and streaks (drawn from a seeded generator), and JPEG, which is
the file format itself (Pillow writes the file the read-back measures). The 3x3 median that
fades grain is OpenCV's: kornia's sorts every window in float, about 100x slower on a CPU.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch


@contextmanager
def _one_thread() -> Iterator[None]:
    """Torch on one thread while an edit runs: a single image's filter gains nothing from more,
    and on a busy 2-core machine their spinning made blurs 40x slower (measured: 645 ms vs 16)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tensor(image: np.ndarray) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1]."""
    import torch

    planes = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(planes[None] / np.float32(255))


def _array(tensor: torch.Tensor) -> np.ndarray:
    """(H, W, 3) uint8, rounded."""
    pixels = np.clip(tensor[0].numpy(), 0, 1).transpose(1, 2, 0) * 255
    return np.rint(pixels).astype(np.uint8)


def _per_level(image: np.ndarray, op: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """A pointwise op applied to the 256 grey levels of each channel and looked up: the same
    numbers as applying it to every pixel, at the cost of 768."""
    import cv2
    import torch

    levels = torch.arange(256, dtype=torch.float32) / 255
    table = _array(op(levels.expand(1, 3, 1, 256)))  # (1, 256, 3): a table per channel
    return cv2.LUT(np.ascontiguousarray(image), table.reshape(256, 1, 3))


def brightness_edit(image: np.ndarray, strength: float) -> np.ndarray:
    """Gamma 2^-strength: brighter above 0, darker below; black and white stay where they are."""
    from kornia.enhance import adjust_gamma

    if strength == 0:
        return image
    return _per_level(image, lambda x: adjust_gamma(x, 2.0 ** (-strength)))


def contrast_edit(image: np.ndarray, strength: float) -> np.ndarray:
    """Luma spread scaled by 2^strength around the mean grey (the mean stays, up to clipping)."""
    from kornia.enhance import adjust_contrast_with_mean_subtraction

    if strength == 0:
        return image
    with _one_thread():
        return _array(adjust_contrast_with_mean_subtraction(_tensor(image), 2.0**strength))


def airlight(image: np.ndarray) -> np.ndarray:
    """The haze colour: the mean of the pixels brightest in the dark channel (top 0.1%), as in
    the dark channel prior (He et al.)."""
    dark = image.min(axis=2).ravel()
    top = max(1, dark.size // 1000)
    brightest = np.argpartition(dark, -top)[-top:]
    return image.reshape(-1, 3)[brightest].astype(np.float32).mean(axis=0)


def haze_edit(image: np.ndarray, strength: float) -> np.ndarray:
    """Atmospheric scattering I = J t + A (1 - t) with transmission t = 1 - strength toward the
    image's own airlight A; a negative strength inverts the model (J = (I - A s) / (1 - s))."""
    if strength == 0:
        return image
    light = airlight(image)
    pixels = image.astype(np.float32)
    if strength > 0:
        t = 1.0 - min(strength, 1.0)
        hazed = pixels * t + light * (1 - t)
    else:
        s = min(-strength, 0.95)
        hazed = (pixels - light * s) / (1 - s)
    return np.clip(np.round(hazed), 0, 255).astype(np.uint8)


def _kernel(sigma: float) -> int:
    return 2 * math.ceil(3 * sigma) + 1


def sharpness_edit(image: np.ndarray, strength: float) -> np.ndarray:
    """Below 0 a Gaussian blur of sigma -strength; above 0 an unsharp mask (sigma 1) added
    `strength` times."""
    from kornia.filters import gaussian_blur2d, unsharp_mask

    if abs(strength) < 0.05:
        return image
    with _one_thread():
        pixels = _tensor(image)
        if strength < 0:
            sigma = -strength
            return _array(gaussian_blur2d(pixels, _kernel(sigma), (sigma, sigma)))
        sharpened = unsharp_mask(pixels, _kernel(1.0), (1.0, 1.0))
        return _array(pixels + strength * (sharpened - pixels))


def _toward_median(image: np.ndarray, share: float) -> np.ndarray:
    """Blend toward the 3x3 median: fine grain (noise, specks, streaks) fades, edges stay."""
    import cv2

    pixels = image.astype(np.float32)
    median = cv2.medianBlur(np.ascontiguousarray(image), 3).astype(np.float32)
    return np.rint(pixels + min(share, 1.0) * (median - pixels)).astype(np.uint8)


def noise_edit(image: np.ndarray, strength: float, seed: int = 0) -> np.ndarray:
    """Gaussian sensor noise of standard deviation `strength` (grey levels); below 0, a blend
    toward the 3x3 median by -strength (at most 1)."""
    if strength == 0:
        return image
    if strength < 0:
        return _toward_median(image, -strength)
    grain = np.random.default_rng(seed).standard_normal(image.shape[:2], dtype=np.float32)
    noisy = image.astype(np.float32) + strength * grain[..., None]
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def colour_cast_edit(image: np.ndarray, strength: float) -> np.ndarray:
    """Red raised and blue lowered by `strength`/2 grey levels each (warmer); below 0, cooler."""
    import torch
    from kornia.enhance import shift_rgb

    if strength == 0:
        return image
    half = torch.tensor([strength / 2 / 255])
    return _per_level(image, lambda x: shift_rgb(x, half, torch.zeros(1), -half))


def specks_edit(image: np.ndarray, strength: float, seed: int = 0) -> np.ndarray:
    """A share `strength` of pixels turned into white specks (snow, dust); below 0, a blend
    toward the 3x3 median."""
    if strength == 0:
        return image
    if strength < 0:
        return _toward_median(image, -strength)
    rng = np.random.default_rng(seed)
    out = image.copy()
    out[rng.random(image.shape[:2]) < min(strength, 1.0)] = 255
    return out


def streaks_edit(image: np.ndarray, strength: float, seed: int = 0) -> np.ndarray:
    """Thin bright slanted lines (rain), `strength` per thousand pixels, at 40% opacity; below 0,
    a blend toward the 3x3 median."""
    import cv2

    if strength == 0:
        return image
    if strength < 0:
        return _toward_median(image, -strength)
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    count = round(strength * height * width / 1000)
    layer = np.zeros((height, width), dtype=np.uint8)
    length = max(4.0, height / 12)
    for _ in range(count):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        angle = math.radians(rng.uniform(70, 80))
        end = (int(x + length * math.cos(angle)), int(y + length * math.sin(angle)))
        cv2.line(layer, (int(x), int(y)), end, 255, 1)
    alpha = (layer.astype(np.float32) / 255 * 0.4)[..., None]
    return np.round(image * (1 - alpha) + 255 * alpha).astype(np.uint8)


def jpeg_edit(image: np.ndarray, quality: float) -> np.ndarray:
    """The image as a JPEG of `quality` (1-100) decodes: what the saved file will hold."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=round(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB")).copy()


@dataclass(frozen=True)
class EditSpec:
    """An attribute's edit and the strengths its search may try."""

    edit: Callable[..., np.ndarray]
    lowest: float
    highest: float
    seeded: bool = False


# The order edits are applied in: each later edit disturbs the earlier attributes least (haze
# moves brightness and contrast, contrast moves sharpness, noise moves sharpness, not back).
EDITS: dict[str, EditSpec] = {
    "haze": EditSpec(haze_edit, -0.95, 0.95),
    "brightness": EditSpec(brightness_edit, -4.0, 4.0),
    "contrast": EditSpec(contrast_edit, -5.0, 3.0),
    "colour_cast": EditSpec(colour_cast_edit, -255.0, 255.0),
    "noise": EditSpec(noise_edit, -1.0, 60.0, seeded=True),
    "sharpness": EditSpec(sharpness_edit, -8.0, 6.0),
    "streaks": EditSpec(streaks_edit, -1.0, 10.0, seeded=True),
    "specks": EditSpec(specks_edit, -1.0, 0.2, seeded=True),
}


def apply_edit(image: np.ndarray, name: str, strength: float, seed: int = 0) -> np.ndarray:
    """Edit `name` (a key of EDITS) at `strength`."""
    spec = EDITS[name]
    if spec.seeded:
        return spec.edit(image, strength, seed)
    return spec.edit(image, strength)
