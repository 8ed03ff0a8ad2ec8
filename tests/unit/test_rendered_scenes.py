"""The scene conditions of what the demo world renders: a field image's, known from its name, and
each generation request's, as the procedural generator renders it (an edit keeps its source's
layout)."""

from __future__ import annotations

from pathlib import Path

from tools.generator.base import GenerationRequest
from tools.generator.procedural import rendered_conditions
from tools.world.config import WorldConfig
from tools.world.field import field_image_conditions, render_field

FIELD = {
    "distance": {"near": 0.5, "mid": 0.3, "far": 0.2},
    "crowding": {"sparse": 0.9, "dense": 0.1},
}
WORLD = WorldConfig(seed=7, image_size=64, conditions=FIELD)
SOURCE = "/elsewhere/base/images/field/train/train_00003.jpg"


def test_field_image_conditions_are_the_ones_it_was_rendered_under(tmp_path: Path) -> None:
    images = list(render_field(WORLD, tmp_path, "train", count=12))
    assert [field_image_conditions(WORLD, i.path) for i in images] == [i.conditions for i in images]
    pool = next(render_field(WORLD, tmp_path, "pool", start=5, count=1))
    assert field_image_conditions(WORLD, pool.path) == pool.conditions
    assert field_image_conditions(WORLD, tmp_path / "loop-c1-r0-0003.jpg") is None


def test_the_scene_of_a_request_is_what_the_generator_renders() -> None:
    asked = {"lighting": "night", "distance": "far", "crowding": "dense"}
    generated = GenerationRequest(id="a", slice_name="s", prompt="p", seed=1, conditions=asked)
    assert rendered_conditions(generated, WORLD) == {**asked, "weather": "clear"}
    box = [(10.0, 30.0, 30.0, 50.0, "car")]
    kept = generated.model_copy(
        update={"mode": "edit", "source_path": SOURCE, "source_boxes": box, "layout": "keep"}
    )
    source = field_image_conditions(WORLD, SOURCE)
    assert source is not None and (source.distance, source.crowding) == ("mid", "sparse")
    assert rendered_conditions(kept, WORLD) == {
        "lighting": "night",
        "weather": "clear",
        "distance": source.distance,
        "crowding": source.crowding,
    }
    fitted = kept.model_copy(update={"layout": "fit"})
    assert rendered_conditions(fitted, WORLD) == {**asked, "weather": "clear"}
    unknown = kept.model_copy(update={"source_path": "/photos/IMG_0001.jpg"})
    assert rendered_conditions(unknown, WORLD) is None
    retrieved = generated.model_copy(update={"mode": "retrieve", "source_path": SOURCE})
    assert rendered_conditions(retrieved, WORLD) is None
