"""Renders the field data of a world: split by split, skewed by the priors, through the field camera."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tools.world.config import WorldConfig
from tools.world.render import render
from tools.world.sampler import sample_scene
from tools.world.scene import CONDITIONS, Conditions

SPLITS = ("train", "val", "test")
# Seed-sequence keys per split; `pool` holds extra field images for the retrieval baseline,
# `deploy` unlabelled images from where the detector is deployed (the test split's conditions).
SPLIT_KEYS = {"train": 0, "val": 1, "test": 2, "pool": 3, "deploy": 4}


@dataclass(frozen=True)
class FieldImage:
    """One rendered field image on disk with its exact labels and the conditions it was shot in."""

    path: Path
    split: str
    boxes: np.ndarray  # (N, 4) xyxy pixels
    class_ids: np.ndarray  # (N,)
    conditions: Conditions
    seed: int


def draw_conditions(priors: dict[str, dict[str, float]], rng: np.random.Generator) -> Conditions:
    """One draw of the four conditions from per-condition probabilities."""
    values = {}
    for name, options in CONDITIONS.items():
        probabilities = np.array([priors[name].get(v, 0.0) for v in options])
        values[name] = options[int(rng.choice(len(options), p=probabilities / probabilities.sum()))]
    return Conditions.model_validate(values)


def split_priors(config: WorldConfig, split: str) -> dict[str, dict[str, float]]:
    """The condition probabilities a split is drawn from (the pool as train, deploy as test)."""
    return config.priors({"pool": "train", "deploy": "test"}.get(split, split))


def field_image_name(split: str, index: int) -> str:
    return f"{split}_{index:05d}.jpg"


FIELD_IMAGE_NAME = re.compile(r"(?P<split>[a-z]+)_(?P<index>[0-9]+)\.jpg")


def field_image_conditions(config: WorldConfig, path: str | Path) -> Conditions | None:
    """The conditions a field image of `config` was rendered under, from its file name alone
    (`render_field` draws them first from the image's own seed); None for a name it never
    gives."""
    match = FIELD_IMAGE_NAME.fullmatch(Path(path).name)
    if match is None or match["split"] not in SPLIT_KEYS:
        return None
    split, index = match["split"], int(match["index"])
    rng = np.random.default_rng(scene_seed(config.seed, split, index))
    return draw_conditions(split_priors(config, split), rng)


def scene_seed(world_seed: int, split: str, index: int) -> int:
    """A stable seed per (world, split, image): same seed, same images, in any order."""
    return int(np.random.SeedSequence([world_seed, SPLIT_KEYS[split], index]).generate_state(1)[0])


def render_field(
    config: WorldConfig, out_dir: Path, split: str, start: int = 0, count: int | None = None
) -> Iterator[FieldImage]:
    """Render images `start..start+count` of `split` into `out_dir` (JPEG, camera applied)."""
    total = getattr(config.splits, split, 0) if count is None else count
    out_dir.mkdir(parents=True, exist_ok=True)
    priors = split_priors(config, split)
    for index in range(start, start + total):
        seed = scene_seed(config.seed, split, index)
        rng = np.random.default_rng(seed)
        conditions = draw_conditions(priors, rng)
        result = render(sample_scene(conditions, seed, config.image_size))
        pixels = config.camera.apply(result.image, rng)
        path = out_dir / field_image_name(split, index)
        Image.fromarray(pixels).save(path, quality=config.camera.jpeg_quality)
        yield FieldImage(path, split, result.boxes, result.class_ids, conditions, seed)
