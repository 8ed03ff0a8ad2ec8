"""PasteGenerator: train objects pasted into train images at the classes, sizes, counts and
overlaps a request asks, then edited toward its image attributes; every box exact."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from tools.generator.base import Box, GeneratedImage, GenerationRequest
from tools.generator.instance_bank import Cutout, Instance, InstanceBank, pixel_rect
from tools.generator.paste_layout import Box4, Layer, Range, background_layer, place
from tools.image_attributes import EXTRA_ATTRIBUTES, IMAGE_ATTRIBUTES
from tools.image_edit_ops import EDITS
from tools.image_edits import EditResult, edit_toward

OBJECT_TARGETS = ("box_size", "overlap", "objects")
TARGETS = frozenset(IMAGE_ATTRIBUTES + EXTRA_ATTRIBUTES + OBJECT_TARGETS)
DEFAULT_OBJECTS = (1.0, 3.0)
# The share of a background's sides its random crop keeps (copy-paste's scale jitter).
JITTER_SCALE = (0.75, 1.0)
# Without a size target an object keeps its donor's relative size, give or take this share.
SIZE_JITTER = 0.15
# Donors nearer the asked size are likelier (less resampling blur): weight exp(-this x |log ratio|).
DONOR_SIZE_PREFERENCE = 2.0


class PasteGenerator:
    """Copy-paste of the user's own train objects and condition edits of their own train
    images: no GPU, no download. The bank (`write_instance_bank`) is read on first use.

    Images keep their background's size (they are photographs, not square renders): the
    detector's `size` is not used. A background comes from the request (`source_path`,
    `source_boxes`) or, without one, from the bank by the request's seed."""

    name = "paste"

    def __init__(self, bank_file: Path, jitter: bool = True) -> None:
        self.bank_file = bank_file
        self.jitter = jitter  # mirror and crop each background (False: pasted onto it as is)
        self._bank: InstanceBank | None = None

    @property
    def bank(self) -> InstanceBank:
        if self._bank is None:
            if not self.bank_file.is_file():
                raise ValueError(f"no instance bank at {self.bank_file}: write it from train first")
            self._bank = InstanceBank(self.bank_file)
        return self._bank

    def generate(
        self, requests: list[GenerationRequest], out_dir: Path, size: int
    ) -> tuple[list[GeneratedImage], dict[str, str]]:
        out_dir.mkdir(parents=True, exist_ok=True)
        made: list[GeneratedImage] = []
        failed: dict[str, str] = {}
        for request in requests:
            try:
                made.append(self._one(request, out_dir))
            except Exception as error:  # one bad request must not stop the batch
                failed[request.id] = f"{type(error).__name__}: {error}"
        return made, failed

    def _one(self, request: GenerationRequest, out_dir: Path) -> GeneratedImage:
        targets = _checked_targets(request)
        rng = np.random.default_rng(request.seed)
        background, image, layers = self._background(request, rng)
        height, width = image.shape[:2]
        classes = self._classes(request)
        low, high = targets.get("objects", DEFAULT_OBJECTS)
        count = int(rng.integers(math.ceil(low), math.floor(high) + 1))
        size, overlap = targets.get("box_size"), targets.get("overlap")
        donors: dict[str, Instance] = {}
        for k in range(count):
            cls = classes[int(rng.integers(len(classes)))] if classes else None
            instance = self._donor(cls, size, width, height, rng)
            cutout = self.bank.cutout(instance)
            pixels, mask, label = _scaled(cutout, instance, size, width, height, rng)
            source = f"{k}:{instance.key}"
            donors[source] = instance
            placement = place(
                layers, mask, instance.cls, source, (width, height), rng, size, overlap, label
            )
            x, y = placement.origin
            _blend(image, pixels, mask, x, y)
            layers = placement.layers
        edits = {k: v for k, v in targets.items() if k in EDITS or k == "jpeg_quality"}
        result = (
            edit_toward(image, edits, seed=request.seed) if edits else EditResult(image, None, {})
        )
        return _save(request, out_dir, result, layers, donors, background)

    def _background(
        self, request: GenerationRequest, rng: np.random.Generator
    ) -> tuple[str, np.ndarray, list[Layer]]:
        if request.source_path:
            path, boxes = request.source_path, list(request.source_boxes)
        else:
            if not self.bank.backgrounds:
                raise ValueError("the instance bank holds no train image to paste into")
            chosen = self.bank.backgrounds[int(rng.integers(len(self.bank.backgrounds)))]
            path, boxes = chosen.path, list(chosen.boxes)
        with Image.open(path) as opened:
            image = np.asarray(opened.convert("RGB")).copy()
        if self.jitter:
            image, boxes = jitter_background(image, boxes, rng)
        height, width = image.shape[:2]
        layers = [
            background_layer(box[:4], str(box[4]), width, height)
            for box in boxes
            if box[2] > box[0] and box[3] > box[1]
        ]
        return path, image, layers

    def _classes(self, request: GenerationRequest) -> list[str]:
        """The focus classes (each must have train objects); empty: any object of the bank."""
        held = {i.cls for i in self.bank.instances}
        if not held:
            raise ValueError("the instance bank holds no objects")
        absent = [c for c in request.class_focus if c not in held]
        if absent:
            raise ValueError(f"no train objects of class {', '.join(absent)} in the instance bank")
        return list(request.class_focus)

    def _donor(
        self,
        cls: str | None,
        size: Range | None,
        width: int,
        height: int,
        rng: np.random.Generator,
    ) -> Instance:
        """An object of `cls` (or of any class, by the bank's frequencies); with a size target,
        donors near the asked size are likelier."""
        pool = self.bank.of_class(cls) if cls else self.bank.instances
        if size is None:
            return pool[int(rng.integers(len(pool)))]
        wanted = max((size[0] + size[1]) / 2, 1e-6)
        ratios = np.array([max(i.relative_size, 1e-6) / wanted for i in pool])
        weights = np.exp(-DONOR_SIZE_PREFERENCE * np.abs(np.log(ratios)))
        return pool[int(rng.choice(len(pool), p=weights / weights.sum()))]


def jitter_background(
    image: np.ndarray, boxes: list[Box], rng: np.random.Generator
) -> tuple[np.ndarray, list[Box]]:
    """The background mirrored (half the time) and cropped to a random window of
    JITTER_SCALE of its sides, resized back to its size: copy-paste's scale jitter, so that a
    batch is not the train images again with a few objects added (the quality score
    `unoriginal` flagged a third of such images as near copies). Boxes follow exactly, clipped
    to the window; one left under 2 px wide or high is dropped."""
    height, width = image.shape[:2]
    if rng.random() < 0.5:
        image = image[:, ::-1]
        boxes = [(width - x1, y0, width - x0, y1, c) for x0, y0, x1, y1, c in boxes]
    scale = float(rng.uniform(*JITTER_SCALE))
    w, h = round(width * scale), round(height * scale)
    left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    window = Image.fromarray(np.ascontiguousarray(image[top : top + h, left : left + w]))
    image = np.asarray(window.resize((width, height), Image.Resampling.BILINEAR)).copy()
    sx, sy = width / w, height / h
    moved: list[Box] = []
    for x0, y0, x1, y1, c in boxes:
        a0, b0 = (max(x0, left) - left) * sx, (max(y0, top) - top) * sy
        a1, b1 = (min(x1, left + w) - left) * sx, (min(y1, top + h) - top) * sy
        if a1 - a0 >= 2 and b1 - b0 >= 2:
            moved.append((a0, b0, a1, b1, c))
    return image, moved


def _checked_targets(request: GenerationRequest) -> dict[str, Range]:
    if request.mode == "retrieve":
        raise ValueError("a retrieve request takes a pool image as it is: not a paste")
    unknown = sorted(set(request.targets) - TARGETS)
    if unknown:
        raise ValueError(
            f"unknown targets {', '.join(unknown)} (known: {', '.join(sorted(TARGETS))})"
        )
    for name, (low, high) in request.targets.items():
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ValueError(f"target {name} has no range: [{low}, {high}]")
    objects = request.targets.get("objects")
    if objects is not None and (objects[0] < 0 or math.floor(objects[1]) < math.ceil(objects[0])):
        raise ValueError(f"objects [{objects[0]}, {objects[1]}] holds no whole count")
    return dict(request.targets)


def _scaled(
    cutout: Cutout,
    instance: Instance,
    size: Range | None,
    width: int,
    height: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, Box4]:
    """The object resized so that its labelled box has the asked relative size (or its
    donor's, jittered), trimmed to its mask's tight box and no larger than the image; with its
    labelled box in the trimmed window's coordinates (the donor's margins scaled with it)."""
    import cv2

    long_side = max(width, height)
    left, top, _, _ = pixel_rect(instance.box, instance.width, instance.height)
    x0, y0, x1, y1 = instance.box
    label_side = math.sqrt((x1 - x0) * (y1 - y0))
    if size is None:
        wanted = instance.relative_size * (1 + rng.uniform(-SIZE_JITTER, SIZE_JITTER))
    else:
        wanted = float(rng.uniform(size[0], size[1]))
    h, w = cutout.mask.shape
    fits = min(width / w, height / h)
    scale = min(wanted * long_side / label_side, fits)
    for _ in range(3):  # rounding moves a small box's size: correct toward the asked one
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        sx, sy = new_w / w, new_h / h
        interpolation = cv2.INTER_AREA if new_w < w else cv2.INTER_LINEAR
        pixels = cv2.resize(cutout.pixels, (new_w, new_h), interpolation=interpolation)
        weights = cv2.resize(
            cutout.mask.astype(np.float32), (new_w, new_h), interpolation=interpolation
        )
        mask = weights >= 0.5
        if not mask.any():
            raise ValueError(f"object {instance.key} vanishes at {new_w}x{new_h} pixels")
        got = math.sqrt((x1 - x0) * sx * (y1 - y0) * sy) / long_side
        if size is None or size[0] <= got <= size[1]:
            break
        scale = min(scale * wanted / got, fits)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    label = (
        (x0 - left) * sx - cols[0],
        (y0 - top) * sy - rows[0],
        (x1 - left) * sx - cols[0],
        (y1 - top) * sy - rows[0],
    )
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return pixels[window], mask[window], label


def _blend(image: np.ndarray, pixels: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    """Paste in place with feathered edges: alpha falls toward the mask's border but is zero
    outside it, so the object's box stays the mask's tight box."""
    import cv2

    sigma = float(np.clip(0.02 * math.sqrt(mask.sum()), 0.6, 2.0))
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma) * mask
    alpha = np.clip(alpha * 1.5, 0, 1)[..., None]
    h, w = mask.shape
    region = image[y : y + h, x : x + w].astype(np.float32)
    image[y : y + h, x : x + w] = np.round(alpha * pixels + (1 - alpha) * region).astype(np.uint8)


def _save(
    request: GenerationRequest,
    out_dir: Path,
    result: EditResult,
    layers: list[Layer],
    donors: dict[str, Instance],
    background: str,
) -> GeneratedImage:
    """The image (PNG, or JPEG when a quality is asked) and its truth file: every object's box
    and class, which were pasted (and from which bank object), and the edits' strengths."""
    if result.jpeg_quality is None:
        path = out_dir / f"{request.id}.png"
        Image.fromarray(result.image).save(path, compress_level=1)  # 5x faster than 6
    else:
        path = out_dir / f"{request.id}.jpg"
        Image.fromarray(result.image).save(path, "JPEG", quality=result.jpeg_quality)
    truth_path = out_dir / f"{request.id}.truth.json"
    truth_path.write_text(
        json.dumps(
            {
                "boxes": [list(layer.box) for layer in layers],
                "classes": [layer.cls for layer in layers],
                "pasted": [k for k, layer in enumerate(layers) if layer.source is not None],
                "donors": [
                    {"sample_id": donors[layer.source].sample_id, "box": donors[layer.source].box}
                    for layer in layers
                    if layer.source is not None
                ],
                "edits": {name: fit.strength for name, fit in result.fits.items()},
                "background": background,
            }
        )
    )
    height, width = result.image.shape[:2]
    return GeneratedImage(
        request_id=request.id, path=path, width=width, height=height, truth_path=truth_path
    )
