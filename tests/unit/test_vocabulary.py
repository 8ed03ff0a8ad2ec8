"""One scene vocabulary: the world, the analysts, the planner and world.yaml all speak tools.vocabulary."""

from __future__ import annotations

from typing import Any

from agent.steps.prompts import ACTIONS, CROWDING, ENVIRONMENT, LIGHTING, SUBJECTS, VIEWPOINT
from tools.analyst.base import SCENE_VOCABULARY, SceneConditions
from tools.vocabulary import CLASSES, CONDITIONS
from tools.world.config import DEFAULT_PRIORS, WorldConfig
from tools.world.scene import Conditions, SceneObject


def _enums(model: Any) -> dict[str, tuple[str, ...]]:
    """The allowed values of each field of a pydantic model, as its JSON schema states them."""
    out = {}
    for name, field in model.model_json_schema()["properties"].items():
        options = field.get("anyOf", [field])
        out[name] = tuple(v for o in options for v in o.get("enum", []))
    return out


def test_the_vocabulary() -> None:
    assert CONDITIONS == {
        "lighting": ("day", "dusk", "night"),
        "weather": ("clear", "rain", "fog", "snow"),
        "distance": ("near", "mid", "far"),
        "crowding": ("sparse", "dense"),
    }
    assert CLASSES == ("car", "person", "sign")


def test_the_world_and_the_analysts_accept_exactly_the_vocabulary() -> None:
    assert _enums(Conditions) == CONDITIONS
    assert _enums(SceneConditions) == CONDITIONS  # the schema a model analyst must answer in
    assert SCENE_VOCABULARY == CONDITIONS  # what the analyst prompt lists
    assert _enums(SceneObject)["cls"] == CLASSES


def test_world_priors_cover_the_vocabulary() -> None:
    assert {k: tuple(v) for k, v in DEFAULT_PRIORS.items()} == CONDITIONS
    assert {k: tuple(v) for k, v in WorldConfig().priors("test").items()} == CONDITIONS


def test_the_planner_has_words_for_every_value_and_class() -> None:
    assert tuple(LIGHTING) == CONDITIONS["lighting"]
    assert tuple(ENVIRONMENT) == CONDITIONS["weather"]
    assert tuple(VIEWPOINT) == CONDITIONS["distance"]
    assert tuple(CROWDING) == CONDITIONS["crowding"]
    assert tuple(SUBJECTS) == tuple(ACTIONS) == CLASSES
