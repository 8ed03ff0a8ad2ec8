"""world.yaml: the seed, image size, split sizes and how often the field camera sees each condition."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from tools.vocabulary import CONDITIONS
from tools.world.camera import CameraProfile

# Field data is skewed the way real data is: mostly day, clear, mid-range, sparse.
DEFAULT_PRIORS: dict[str, dict[str, float]] = {
    "lighting": {"day": 0.72, "dusk": 0.18, "night": 0.10},
    "weather": {"clear": 0.68, "rain": 0.14, "fog": 0.12, "snow": 0.06},
    "distance": {"near": 0.35, "mid": 0.45, "far": 0.20},
    "crowding": {"sparse": 0.72, "dense": 0.28},
}


class WorldConfigError(ValueError):
    """A world.yaml that cannot be used; the message is one sentence for the user."""


# A split of 100 000 images is about 10 GB at 160 px: more is a typo, not a world.
MAX_SPLIT = 100_000


class Splits(BaseModel):
    train: int = Field(600, ge=0, le=MAX_SPLIT)
    val: int = Field(200, ge=0, le=MAX_SPLIT)
    test: int = Field(400, ge=0, le=MAX_SPLIT)


class WorldConfig(BaseModel):
    """The demo world's settings, as read from world.yaml."""

    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy's seeds
    image_size: int = Field(160, ge=32, le=1024)
    splits: Splits = Field(default_factory=Splits)
    conditions: dict[str, dict[str, float]] = Field(default_factory=lambda: dict(DEFAULT_PRIORS))
    test_conditions: Literal["uniform"] | dict[str, dict[str, float]] = "uniform"
    # field: val is drawn like train (a user's labelled field data, split); test: val is drawn
    # like test, a labelled sample of the deployment (a user who labelled deployment images).
    val_conditions: Literal["field", "test"] = "field"
    camera: CameraProfile = Field(default_factory=CameraProfile)

    @field_validator("conditions", "test_conditions")
    @classmethod
    def _check_priors(cls, value: object) -> object:
        if isinstance(value, dict):
            for name, probabilities in value.items():
                _check_condition(name, probabilities)
        return value

    @model_validator(mode="after")
    def _fill_missing(self) -> WorldConfig:
        # A world.yaml may give only the conditions it wants to change.
        self.conditions = {**DEFAULT_PRIORS, **self.conditions}
        return self

    def priors(self, split: str) -> dict[str, dict[str, float]]:
        """Condition probabilities for `split`: the field priors, or the test mix for `test`
        (and for `val` when `val_conditions` is `test`)."""
        if split == "val" and self.val_conditions == "test":
            split = "test"
        if split != "test":
            return self.conditions
        if self.test_conditions == "uniform":
            return {
                name: {v: 1 / len(values) for v in values} for name, values in CONDITIONS.items()
            }
        return {
            **{name: {v: 1 / len(vals) for v in vals} for name, vals in CONDITIONS.items()},
            **self.test_conditions,
        }


def _check_condition(name: str, probabilities: dict[str, float]) -> None:
    if name not in CONDITIONS:
        raise ValueError(f"unknown condition '{name}'; known conditions: {', '.join(CONDITIONS)}")
    for value in probabilities:
        if value not in CONDITIONS[name]:
            raise ValueError(
                f"unknown value '{value}' for condition '{name}'; "
                f"use one of: {', '.join(CONDITIONS[name])}"
            )
    if any(p < 0 for p in probabilities.values()):
        raise ValueError(f"probabilities of '{name}' must not be negative")
    total = sum(probabilities.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"probabilities of '{name}' sum to {total:g}, not 1")


# Named worlds for `--world NAME`: deployments that differ from what the field camera sees.
PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    # Night and fog are common where the detector is deployed, rare in the field data.
    "night-fog": {
        "conditions": {
            "lighting": {"day": 0.80, "dusk": 0.15, "night": 0.05},
            "weather": {"clear": 0.75, "rain": 0.12, "fog": 0.05, "snow": 0.08},
        },
        "test_conditions": {
            "lighting": {"day": 0.3, "dusk": 0.2, "night": 0.5},
            "weather": {"clear": 0.3, "rain": 0.15, "fog": 0.4, "snow": 0.15},
        },
    },
    # Far objects and fog are rare in the field; the test covers every condition evenly.
    "rare-far-fog": {
        "conditions": {
            "distance": {"near": 0.45, "mid": 0.47, "far": 0.08},
            "weather": {"clear": 0.72, "rain": 0.14, "fog": 0.04, "snow": 0.10},
        },
    },
}


def read_world(path: Path | None) -> WorldConfig:
    """Read world.yaml, a preset's name, or the defaults when `path` is None; raise
    WorldConfigError on bad input."""
    if path is None:
        return WorldConfig()
    if not path.is_file() and str(path) in PRESETS:
        return WorldConfig.model_validate(PRESETS[str(path)])
    if not path.is_file():
        raise WorldConfigError(
            f"World file {path} does not exist; pass the path of a world.yaml or a preset "
            f"({', '.join(PRESETS)})."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        raise WorldConfigError(
            f"World file {path} is not UTF-8 text (byte {error.start} cannot be read); "
            "save it as UTF-8."
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise WorldConfigError(f"World file {path} is not valid YAML{where}.") from error
    if not isinstance(raw, dict):
        raise WorldConfigError(f"World file {path} must hold a mapping of settings.")
    try:
        return WorldConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        allowed = _allowed_range(first["loc"])
        if allowed is not None:
            raise WorldConfigError(
                f"World file {path}: {where} is {first['input']!r}; use a whole number from "
                f"{allowed[0]} to {allowed[1]}."
            ) from None
        message = first["msg"].removeprefix("Value error, ")
        raise WorldConfigError(f"World file {path}: {where}: {message}.") from error


def _allowed_range(loc: tuple[int | str, ...]) -> tuple[int, int] | None:
    """The bounds of the whole-number setting at `loc`, read off its declaration."""
    model: object = WorldConfig
    info = None
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not isinstance(fields, dict) or part not in fields:
            return None
        info = fields[part]
        model = info.annotation
    if info is None or info.annotation is not int:
        return None
    lows = [m.ge for m in info.metadata if hasattr(m, "ge")]
    highs = [m.le for m in info.metadata if hasattr(m, "le")]
    return (lows[0], highs[0]) if lows and highs else None
