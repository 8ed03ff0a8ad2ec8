"""Renders a scene spec to pixels and exact visible boxes, with lighting and weather as a camera sees them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from tools.world.scene import CLASSES, SceneObject, SceneSpec

# An object whose visible pixels are less than this share of its drawn pixels is not labelled:
# a person hidden behind a car is not something a labeller would box.
MIN_VISIBLE_SHARE = 0.4
MIN_BOX_SIDE = 2.0


@dataclass(frozen=True)
class RenderResult:
    """Pixels (H, W, 3 uint8) and the labels of the visible objects (xyxy pixels, class ids)."""

    image: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray


@dataclass
class _Light:
    """A light source to add after the scene is darkened (headlights, lit windows, lamps)."""

    x: float
    y: float
    sx: float
    sy: float
    rgb: tuple[float, float, float]
    strength: float


def render(spec: SceneSpec) -> RenderResult:
    """Draw `spec`; deterministic: the same spec always gives the same pixels and boxes."""
    rng = np.random.default_rng(spec.seed + 7919)
    size = spec.size
    horizon_px = int(spec.horizon * size)
    image = Image.fromarray(_background(spec, horizon_px))
    draw = ImageDraw.Draw(image)
    lights: list[_Light] = []
    _draw_buildings(draw, spec, horizon_px, rng, lights)
    _draw_road(draw, size, horizon_px)

    mask = Image.new("L", (size, size), 0)
    mask_draw = ImageDraw.Draw(mask)
    drawn_area: list[int] = []
    for index, obj in enumerate(spec.objects, start=1):
        _DRAWERS[obj.cls](draw, mask_draw, obj, index, lights, rng)
        # Just drawn, the object is on top: its pixel count now is its unoccluded area.
        drawn_area.append(int((np.asarray(mask) == index).sum()))

    pixels = np.asarray(image, dtype=np.float32)
    pixels = _apply_lighting(pixels, spec, lights)
    pixels = _apply_weather(pixels, spec, horizon_px, rng)
    boxes, class_ids = _visible_boxes(np.asarray(mask), spec.objects, drawn_area)
    return RenderResult(np.clip(pixels, 0, 255).astype(np.uint8), boxes, class_ids)


def _background(spec: SceneSpec, horizon_px: int) -> np.ndarray:
    size = spec.size
    rows = np.arange(size, dtype=np.float32)[:, None]
    sky_top = np.array(spec.sky, dtype=np.float32) * 0.8
    sky_low = np.minimum(np.array(spec.sky, dtype=np.float32) * 1.15 + 20, 255)
    t_sky = np.clip(rows / max(horizon_px, 1), 0, 1)
    sky = sky_top * (1 - t_sky) + sky_low * t_sky
    ground_far = np.array(spec.ground, dtype=np.float32) * 1.1
    ground_near = np.array(spec.ground, dtype=np.float32) * 0.8
    t_ground = np.clip((rows - horizon_px) / max(size - horizon_px, 1), 0, 1)
    ground = ground_far * (1 - t_ground) + ground_near * t_ground
    column = np.where(rows < horizon_px, sky, ground)
    return np.repeat(column[:, None, :], size, axis=1).astype(np.uint8)


def _draw_buildings(
    draw: ImageDraw.ImageDraw,
    spec: SceneSpec,
    horizon_px: int,
    rng: np.random.Generator,
    lights: list[_Light],
) -> None:
    size = spec.size
    for x0, width, height, color in spec.buildings:
        left, right = x0 * size, (x0 + width) * size
        top = horizon_px - height * size
        draw.rectangle([left, top, right, horizon_px], fill=tuple(color))
        window = max(1.5, size / 64)
        step = window * 2.2
        wy = top + step / 2
        while wy + window < horizon_px - 1:
            wx = left + step / 2
            while wx + window < right - 1:
                draw.rectangle([wx, wy, wx + window, wy + window], fill=(40, 45, 60))
                if spec.conditions.lighting != "day" and rng.random() < 0.35:
                    lights.append(
                        _Light(
                            wx + window / 2,
                            wy + window / 2,
                            window * 0.7,
                            window * 0.7,
                            (255, 215, 140),
                            0.9,
                        )
                    )
                wx += step
            wy += step
    sidewalk = max(2, size // 40)
    draw.rectangle([0, horizon_px, size, horizon_px + sidewalk], fill=(150, 148, 140))


def _draw_road(draw: ImageDraw.ImageDraw, size: int, horizon_px: int) -> None:
    # Dashed centre line converging on the vanishing point.
    vx = size / 2
    for k in range(6):
        t0, t1 = (k + 0.2) / 6, (k + 0.6) / 6
        y0 = horizon_px + t0**2 * (size - horizon_px)
        y1 = horizon_px + t1**2 * (size - horizon_px)
        w0, w1 = 0.3 + t0 * size / 60, 0.3 + t1 * size / 60
        draw.polygon(
            [(vx - w0, y0), (vx + w0, y0), (vx + w1, y1), (vx - w1, y1)], fill=(215, 215, 200)
        )


def _draw_car(
    draw: ImageDraw.ImageDraw,
    mask: ImageDraw.ImageDraw,
    obj: SceneObject,
    index: int,
    lights: list[_Light],
    rng: np.random.Generator,
) -> None:
    h = obj.height
    width = h * (1.7, 2.0, 2.4)[obj.variant % 3]
    x0, x1, bottom = obj.x - width / 2, obj.x + width / 2, obj.y
    wheel = 0.2 * h
    body = [x0, bottom - 0.66 * h, x1, bottom - 0.16 * h]
    front = x1 if obj.facing > 0 else x0
    back = x0 if obj.facing > 0 else x1
    cabin_front = front - obj.facing * 0.25 * width
    cabin_back = back + obj.facing * 0.12 * width
    cabin = [
        (cabin_back, bottom - 0.64 * h),
        (cabin_back + obj.facing * 0.06 * width, bottom - h),
        (cabin_front - obj.facing * 0.1 * width, bottom - h),
        (cabin_front, bottom - 0.64 * h),
    ]
    for target, fill in ((draw, obj.color), (mask, index)):
        target.polygon(cabin, fill=fill)  # type: ignore[arg-type]
        target.rounded_rectangle(body, radius=max(1, h * 0.1), fill=fill)  # type: ignore[arg-type]
        for cx in (x0 + 0.22 * width, x1 - 0.22 * width):
            wheel_fill = (20, 20, 20) if target is draw else index
            target.ellipse([cx - wheel, bottom - 2 * wheel, cx + wheel, bottom], fill=wheel_fill)  # type: ignore[arg-type]
    glass = [
        (c[0] * 0.85 + obj.x * 0.15, c[1] + 0.08 * h * (1 if i in (1, 2) else -0.3))
        for i, c in enumerate(cabin)
    ]
    draw.polygon(glass, fill=(110, 150, 180))
    lamp_y = bottom - 0.5 * h
    lamp = max(1.0, 0.07 * h)
    head_a, head_b = front - obj.facing * 2 * lamp, front - obj.facing * 0.5 * lamp
    tail_a, tail_b = back + obj.facing * 0.5 * lamp, back + obj.facing * 2 * lamp
    draw.rectangle(
        [min(head_a, head_b), lamp_y, max(head_a, head_b), lamp_y + lamp], fill=(250, 240, 200)
    )
    draw.rectangle(
        [min(tail_a, tail_b), lamp_y, max(tail_a, tail_b), lamp_y + lamp], fill=(200, 20, 20)
    )
    lights.append(
        _Light(
            front + obj.facing * 0.35 * width,
            lamp_y + lamp,
            0.45 * width,
            0.22 * h,
            (255, 245, 200),
            1.0,
        )
    )
    lights.append(_Light(front, lamp_y, lamp * 1.5, lamp * 1.5, (255, 255, 230), 1.2))
    lights.append(_Light(back, lamp_y, lamp * 1.5, lamp * 1.2, (255, 40, 30), 0.8))


SKIN = [(240, 200, 170), (200, 150, 110), (150, 100, 70), (100, 70, 50)]


def _draw_person(
    draw: ImageDraw.ImageDraw,
    mask: ImageDraw.ImageDraw,
    obj: SceneObject,
    index: int,
    lights: list[_Light],
    rng: np.random.Generator,
) -> None:
    h, x, bottom = obj.height, obj.x, obj.y
    top = bottom - h
    head = 0.11 * h
    torso_w = 0.3 * h
    stride = (0.02, 0.12, 0.2)[obj.variant % 3] * h
    leg = max(1.0, 0.09 * h)
    arm_swing = stride * 0.8
    skin = SKIN[(obj.variant + int(obj.x)) % len(SKIN)]
    for target, torso_fill, leg_fill, head_fill in (
        (draw, obj.color, obj.accent, skin),
        (mask, index, index, index),
    ):
        target.line([(x, top + 0.55 * h), (x - stride, bottom)], fill=leg_fill, width=round(leg))  # type: ignore[arg-type]
        target.line([(x, top + 0.55 * h), (x + stride, bottom)], fill=leg_fill, width=round(leg))  # type: ignore[arg-type]
        target.rounded_rectangle(
            [x - torso_w / 2, top + 0.2 * h, x + torso_w / 2, top + 0.58 * h],
            radius=max(1, torso_w * 0.25),
            fill=torso_fill,
        )  # type: ignore[arg-type]
        target.line(
            [(x - torso_w / 2, top + 0.25 * h), (x - torso_w / 2 - arm_swing * 0.5, top + 0.5 * h)],
            fill=torso_fill,
            width=max(1, round(leg * 0.8)),
        )  # type: ignore[arg-type]
        target.line(
            [(x + torso_w / 2, top + 0.25 * h), (x + torso_w / 2 + arm_swing * 0.5, top + 0.5 * h)],
            fill=torso_fill,
            width=max(1, round(leg * 0.8)),
        )  # type: ignore[arg-type]
        target.ellipse([x - head, top, x + head, top + 2 * head], fill=head_fill)  # type: ignore[arg-type]


def _draw_sign(
    draw: ImageDraw.ImageDraw,
    mask: ImageDraw.ImageDraw,
    obj: SceneObject,
    index: int,
    lights: list[_Light],
    rng: np.random.Generator,
) -> None:
    h, x, bottom = obj.height, obj.x, obj.y
    plate = 0.45 * h
    cy = bottom - h + plate / 2
    pole = max(1, round(0.06 * h))
    r = plate / 2
    shape = obj.variant % 4
    if shape == 0:
        points = [
            (x + r * np.cos(a), cy + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 17)[:-1]
        ]
    elif shape == 1:
        points = [(x, cy - r), (x + r, cy + r * 0.8), (x - r, cy + r * 0.8)]
    elif shape == 2:
        points = [(x - r, cy - r), (x + r, cy - r), (x + r, cy + r), (x - r, cy + r)]
    else:
        points = [(x, cy - r), (x + r, cy), (x, cy + r), (x - r, cy)]
    for target, plate_fill, pole_fill in ((draw, obj.color, (130, 130, 135)), (mask, index, index)):
        target.line([(x, cy), (x, bottom)], fill=pole_fill, width=pole)  # type: ignore[arg-type]
        target.polygon(points, fill=plate_fill)  # type: ignore[arg-type]
    inner = [(x + (px - x) * 0.55, cy + (py - cy) * 0.55) for px, py in points]
    draw.polygon(inner, fill=obj.accent)


_DRAWERS = {"car": _draw_car, "person": _draw_person, "sign": _draw_sign}


def _add_lights(pixels: np.ndarray, lights: list[_Light], gain: float) -> np.ndarray:
    size = pixels.shape[0]
    for light in lights:
        sx, sy = max(light.sx, 0.5), max(light.sy, 0.5)
        # Only the 3-sigma window around a light is touched: most lights are small windows.
        x0, x1 = max(0, int(light.x - 3 * sx)), min(size, int(light.x + 3 * sx) + 1)
        y0, y1 = max(0, int(light.y - 3 * sy)), min(size, int(light.y + 3 * sy) + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        gx = np.exp(-(((np.arange(x0, x1, dtype=np.float32) - light.x) / sx) ** 2))
        gy = np.exp(-(((np.arange(y0, y1, dtype=np.float32) - light.y) / sy) ** 2))
        blob = (gy[:, None] * gx[None, :])[..., None]
        pixels[y0:y1, x0:x1] += gain * light.strength * blob * np.array(light.rgb, np.float32)
    return pixels


def _apply_lighting(pixels: np.ndarray, spec: SceneSpec, lights: list[_Light]) -> np.ndarray:
    lighting = spec.conditions.lighting
    if lighting == "dusk":
        pixels = pixels * np.array([0.85, 0.62, 0.5], dtype=np.float32) * 0.75
        return _add_lights(pixels, lights, 0.35)
    if lighting == "night":
        pixels = pixels * np.array([0.3, 0.31, 0.4], dtype=np.float32)
        return _add_lights(pixels, lights, 0.9)
    return pixels


def _apply_weather(
    pixels: np.ndarray, spec: SceneSpec, horizon_px: int, rng: np.random.Generator
) -> np.ndarray:
    weather = spec.conditions.weather
    size = spec.size
    dark = spec.conditions.lighting == "night"
    if weather == "rain":
        pixels = pixels * 0.82
        # Wet road: the scene above mirrors into the ground, fading with distance from it.
        depth = min(horizon_px, size - horizon_px)
        if depth > 1:
            above = pixels[horizon_px - depth : horizon_px][::-1]
            fade = np.linspace(0.35, 0.0, depth, dtype=np.float32)[:, None, None]
            below = pixels[horizon_px : horizon_px + depth]
            pixels[horizon_px : horizon_px + depth] = below * (1 - fade) + above * fade
        streaks = Image.new("L", (size, size), 0)
        streak_draw = ImageDraw.Draw(streaks)
        length = size / 14
        for _ in range(size // 2):
            x, y = rng.uniform(-length, size), rng.uniform(-length, size)
            streak_draw.line([(x, y), (x + length * 0.3, y + length)], fill=255, width=1)
        alpha = np.asarray(streaks, dtype=np.float32)[..., None] / 255 * 0.45
        pixels = pixels * (1 - alpha) + alpha * (90.0 if dark else 210.0)
    elif weather == "fog":
        rows = np.arange(size, dtype=np.float32)
        nearness = np.clip((rows - horizon_px) / max(size - horizon_px, 1), 0, 1)
        density = 0.6 + 0.2 * rng.random()
        alpha = (density * (0.92 - 0.6 * nearness))[:, None, None]
        fog = np.array((55, 55, 62) if dark else (200, 200, 206), dtype=np.float32)
        pixels = pixels * (1 - alpha) + alpha * fog
    elif weather == "snow":
        haze = 70.0 if dark else 225.0
        pixels = pixels * 0.62 + 0.38 * haze
        count = size * size // 50
        ys = rng.integers(0, size, count)
        xs = rng.integers(0, size, count)
        flake = 120.0 if dark else 250.0
        pixels[ys, xs] = flake
        big = count // 4
        pixels[np.clip(ys[:big] + 1, 0, size - 1), xs[:big]] = flake
    return pixels


def _visible_boxes(
    mask: np.ndarray, objects: list[SceneObject], drawn_area: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    boxes, class_ids = [], []
    for index, (obj, area) in enumerate(zip(objects, drawn_area, strict=True), start=1):
        ys, xs = np.nonzero(mask == index)
        if area == 0 or len(xs) < MIN_VISIBLE_SHARE * area:
            continue
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        if box[2] - box[0] < MIN_BOX_SIDE or box[3] - box[1] < MIN_BOX_SIDE:
            continue
        boxes.append(box)
        class_ids.append(CLASSES.index(obj.cls))
    return (np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(class_ids, dtype=np.int64))
