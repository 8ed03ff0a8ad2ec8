"""Scene specs of the demo world: the records a renderer draws, in the scene vocabulary."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# CLASSES and CONDITIONS are re-exported: the world's modules read the vocabulary from here.
from tools.vocabulary import CLASSES as CLASSES
from tools.vocabulary import CONDITIONS as CONDITIONS
from tools.vocabulary import ClassName, Crowding, Distance, Lighting, Weather


class Conditions(BaseModel):
    """The four scene conditions; together they name a slice of the world."""

    lighting: Lighting = "day"
    weather: Weather = "clear"
    distance: Distance = "mid"
    crowding: Crowding = "sparse"

    def tags(self) -> dict[str, str]:
        return {
            "lighting": self.lighting,
            "weather": self.weather,
            "distance": self.distance,
            "crowding": self.crowding,
        }


class SceneObject(BaseModel):
    """One object to draw: class, where its feet stand, its height in pixels and its looks."""

    cls: ClassName
    x: float = Field(description="horizontal centre, pixels")
    y: float = Field(description="ground contact (bottom), pixels")
    height: float = Field(gt=0, description="object height in pixels")
    color: tuple[int, int, int]
    accent: tuple[int, int, int] = (40, 40, 40)
    facing: Literal[-1, 1] = 1
    variant: int = Field(0, ge=0, description="shape variant: car body style, pose, sign plate")


class SceneSpec(BaseModel):
    """Everything needed to render one image exactly; same spec, same pixels."""

    seed: int
    size: int = 160
    conditions: Conditions = Field(default_factory=Conditions)
    horizon: float = Field(0.42, description="horizon height as a fraction of the image")
    sky: tuple[int, int, int] = (135, 180, 225)
    ground: tuple[int, int, int] = (95, 95, 100)
    buildings: list[tuple[float, float, float, tuple[int, int, int]]] = Field(
        default_factory=list, description="(x0, width, height) as fractions, and colour"
    )
    objects: list[SceneObject] = Field(default_factory=list)
