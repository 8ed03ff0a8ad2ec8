"""The scene vocabulary: the conditions a scene can be in and the classes it holds, declared once.

The world renders it, the generator is asked in it, analysts blame conditions in it and the
planner writes prompts from it; each of them imports it from here.
"""

from __future__ import annotations

from typing import Literal, get_args

Lighting = Literal["day", "dusk", "night"]
Weather = Literal["clear", "rain", "fog", "snow"]
Distance = Literal["near", "mid", "far"]
Crowding = Literal["sparse", "dense"]
ClassName = Literal["car", "person", "sign"]

# Every condition with its values in a fixed order (used for validation, uniform sampling,
# prompts and stable report tables).
CONDITIONS: dict[str, tuple[str, ...]] = {
    "lighting": get_args(Lighting),
    "weather": get_args(Weather),
    "distance": get_args(Distance),
    "crowding": get_args(Crowding),
}
CLASSES: tuple[str, ...] = get_args(ClassName)

# What "dense" means, wherever crowding is read from boxes (the field estimates) or made (the
# layout edits): this many objects in an image, or two of them overlapping above this IoU.
DENSE_OBJECTS = 6
DENSE_OVERLAP = 0.05
