"""Draws random scene specs for given conditions: layout, object looks, backgrounds."""

from __future__ import annotations

import numpy as np

from tools.world.layout import CLASS_HEIGHT_SCALE, fit_layout
from tools.world.scene import Conditions, SceneObject, SceneSpec

# Object height as a fraction of the image side, by distance condition.
HEIGHT_RANGE = {"near": (0.30, 0.50), "mid": (0.16, 0.27), "far": (0.10, 0.15)}
# Where the ground contact line may sit, as fractions between horizon (0) and bottom (1).
GROUND_RANGE = {"near": (0.70, 1.0), "mid": (0.35, 0.80), "far": (0.05, 0.35)}
COUNT_RANGE = {"sparse": (1, 3), "dense": (3, 6)}
CLASS_WEIGHTS = {"car": 0.45, "person": 0.35, "sign": 0.20}

SKY = {"day": (135, 180, 228), "dusk": (214, 150, 120), "night": (60, 70, 110)}
CAR_COLORS = [
    (200, 30, 30),
    (30, 60, 170),
    (230, 230, 230),
    (30, 30, 30),
    (120, 120, 130),
    (240, 200, 40),
    (40, 130, 60),
    (150, 90, 40),
    (90, 30, 120),
    (230, 120, 30),
]
CLOTHES = [
    (180, 40, 40),
    (40, 70, 160),
    (40, 140, 70),
    (230, 200, 60),
    (30, 30, 30),
    (200, 200, 200),
    (160, 80, 150),
    (240, 130, 40),
    (90, 60, 40),
]
SIGN_COLORS = [(210, 30, 30), (30, 80, 190), (240, 200, 30), (30, 150, 70)]


RGB = tuple[int, int, int]


def _jitter(rng: np.random.Generator, rgb: RGB, amount: int = 25) -> RGB:
    r, g, b = (int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)
    return (r, g, b)


def sample_scene(
    conditions: Conditions,
    seed: int,
    size: int = 160,
    class_weights: dict[str, float] | None = None,
) -> SceneSpec:
    """A random scene under `conditions`; the same arguments always give the same spec."""
    rng = np.random.default_rng(seed)
    horizon = float(rng.uniform(0.32, 0.5))
    buildings = []
    x = float(rng.uniform(-0.1, 0.0))
    while x < 1.0:
        width = float(rng.uniform(0.12, 0.3))
        height = float(rng.uniform(0.12, horizon - 0.02))
        shade = int(rng.integers(70, 200))
        color = _jitter(rng, (shade, shade - 10, shade - 25), 20)
        buildings.append((x, width, height, color))
        x += width + float(rng.uniform(0.0, 0.05))

    ground_shade = int(rng.integers(80, 120))
    spec = SceneSpec(
        seed=seed,
        size=size,
        conditions=conditions,
        horizon=horizon,
        sky=_jitter(rng, SKY[conditions.lighting], 15),
        ground=_jitter(rng, (ground_shade, ground_shade, ground_shade + 5), 8),
        buildings=buildings,
        objects=_sample_objects(rng, conditions, size, horizon, class_weights or CLASS_WEIGHTS),
    )
    return spec


def restage_scene(
    boxes: list[tuple[float, float, float, float, str]],
    conditions: Conditions,
    seed: int,
    size: int,
    fit: bool = False,
) -> SceneSpec:
    """A new scene with objects where `boxes` (x0, y0, x1, y1, class) put them, under new conditions.

    The procedural twin of image-to-image editing: layout and classes carry over, looks and
    conditions change, and the renderer gives the exact new boxes. `fit`: the layout is first
    moved towards the conditions' distance (scaled about this scene's vanishing point, never
    out of the frame) and crowded with occluders for a dense request.
    """
    base = sample_scene(conditions, seed, size)
    if fit:
        boxes = fit_layout(boxes, conditions.tags(), size, base.horizon * size, seed)
    rng = np.random.default_rng(seed + 1)
    objects = []
    for x0, y0, x1, y1, cls in boxes:
        height = max(2.0, y1 - y0)
        palette = {"car": CAR_COLORS, "person": CLOTHES, "sign": SIGN_COLORS}[cls]
        objects.append(
            SceneObject(
                cls=cls,
                x=(x0 + x1) / 2,
                y=y1,
                height=height,  # type: ignore[arg-type]
                color=_jitter(rng, palette[rng.integers(len(palette))], 20),
                accent=_jitter(rng, CLOTHES[rng.integers(len(CLOTHES))], 20),
                facing=1 if rng.random() < 0.5 else -1,
                variant=int(rng.integers(3)),
            )
        )
    objects.sort(key=lambda o: o.y)
    return base.model_copy(update={"objects": objects})


def _sample_objects(
    rng: np.random.Generator,
    conditions: Conditions,
    size: int,
    horizon: float,
    class_weights: dict[str, float],
) -> list[SceneObject]:
    lo, hi = COUNT_RANGE[conditions.crowding]
    count = int(rng.integers(lo, hi + 1))
    classes = list(class_weights)
    weights = np.array(list(class_weights.values()), dtype=float)
    dense = conditions.crowding == "dense"
    # Dense scenes gather objects around one or two centres so that they overlap.
    centres = rng.uniform(0.25, 0.75, size=2) * size
    objects = []
    for i in range(count):
        cls = str(rng.choice(classes, p=weights / weights.sum()))
        h_lo, h_hi = HEIGHT_RANGE[conditions.distance]
        height = float(rng.uniform(h_lo, h_hi)) * size * CLASS_HEIGHT_SCALE[cls]
        g_lo, g_hi = GROUND_RANGE[conditions.distance]
        ground_frac = float(rng.uniform(g_lo, g_hi))
        y = (horizon + ground_frac * (1 - horizon)) * size
        y = max(y, height + 1.0)  # keep the top inside the image
        if dense:
            x = float(centres[i % 2] + rng.normal(0, 0.11 * size))
        else:
            x = float((i + rng.uniform(0.2, 0.8)) / count * size)
        x = float(np.clip(x, 0.05 * size, 0.95 * size))
        if cls == "car":
            color = _jitter(rng, CAR_COLORS[rng.integers(len(CAR_COLORS))], 20)
            accent: RGB = (25, 25, 25)
            variant = int(rng.integers(3))
        elif cls == "person":
            color = _jitter(rng, CLOTHES[rng.integers(len(CLOTHES))], 20)
            accent = _jitter(rng, CLOTHES[rng.integers(len(CLOTHES))], 20)
            variant = int(rng.integers(3))
        else:
            color = _jitter(rng, SIGN_COLORS[rng.integers(len(SIGN_COLORS))], 10)
            accent = (240, 240, 240) if rng.random() < 0.7 else (20, 20, 20)
            variant = int(rng.integers(4))
        objects.append(
            SceneObject(
                cls=cls,
                x=x,
                y=y,
                height=height,
                color=color,
                accent=accent,  # type: ignore[arg-type]
                facing=1 if rng.random() < 0.5 else -1,
                variant=variant,
            )
        )
    # Painter's order: farther objects (higher up) first, so nearer ones occlude them.
    objects.sort(key=lambda o: o.y)
    return objects
