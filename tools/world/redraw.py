"""A field image of the demo world drawn again with one condition changed: the exact counterfactual.

The same seed gives the same scene: layout, objects, colours and the camera's noise. Lighting
and weather only change how the scene is lit and veiled, so every object keeps its exact box;
distance and crowding would change the objects themselves, so they are refused here (an image
edit enlarges a far object instead: tools/generator/counterfactual_edits).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tools.world.config import WorldConfig
from tools.world.field import draw_conditions, scene_seed
from tools.world.render import render
from tools.world.sampler import sample_scene
from tools.world.scene import Conditions

# The conditions a redraw may change: those that leave every object where it is.
REDRAWABLE = ("lighting", "weather")


@dataclass(frozen=True)
class Redrawn:
    """A field image as the field camera saved it, and again with `changes`; one set of boxes."""

    original: np.ndarray
    changed: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray
    conditions: Conditions


def _shot(
    config: WorldConfig, split: str, index: int, changes: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Conditions]:
    """The field pipeline of `render_field`, step for step, with `changes` applied to the
    conditions it draws: the decoded JPEG, the boxes, and the conditions it was shot in."""
    seed = scene_seed(config.seed, split, index)
    rng = np.random.default_rng(seed)
    priors = config.priors({"pool": "train", "deploy": "test"}.get(split, split))
    drawn = draw_conditions(priors, rng)
    conditions = Conditions.model_validate({**drawn.tags(), **changes})
    # The sky's colour follows the lighting, drawn from the same random numbers: the rest of
    # the scene (buildings, objects) comes out alike.
    result = render(sample_scene(conditions, seed, config.image_size))
    pixels = config.camera.apply(result.image, rng)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=config.camera.jpeg_quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB")).copy(), result.boxes, result.class_ids, drawn


def redraw(config: WorldConfig, split: str, index: int, changes: Mapping[str, str]) -> Redrawn:
    """Field image `index` of `split` and its twin with `changes` (condition -> value, lighting
    and weather only), both through the world's camera and JPEG as the field files are."""
    refused = sorted(set(changes) - set(REDRAWABLE))
    if refused:
        raise ValueError(
            f"a redraw changes {', '.join(REDRAWABLE)} only: {', '.join(refused)} would move "
            "the objects themselves"
        )
    original, boxes, class_ids, drawn = _shot(config, split, index, {})
    changed, changed_boxes, _, _ = _shot(config, split, index, changes)
    if not np.array_equal(boxes, changed_boxes):  # the renderer's promise, checked each time
        raise RuntimeError(f"redrawing {split} image {index} moved its boxes")
    return Redrawn(original, changed, boxes, class_ids, drawn)
