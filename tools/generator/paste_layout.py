"""Where pasted objects go: layers of visible pixels, occlusion of what lies beneath, and
placements that land a new object's overlap (IoU) in a range or keep it clear of the others."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import supervision as sv

from tools.generator.instance_bank import ellipse_mask
from tools.image_attributes import box_sizes, max_overlaps

# An object of which less than this share still shows after pasting is dropped from the labels
# (a detector cannot be asked to find what it cannot see); above it, its box shrinks to what shows.
KEEP_VISIBLE = 0.4
# Without an overlap target, a pasted object overlaps no other object more than this.
CLEAR_IOU = 0.1
PLACEMENT_TRIES = 60

Range = tuple[float, float]


Box4 = tuple[float, float, float, float]


@dataclass(frozen=True)
class Layer:
    """An object of the composite: class, label box, and which of its pixels still show.

    The label box may be looser than the object's pixels (annotators leave margins, and a bank
    object keeps its own): when something covers part of the object, each side of the box
    moves in by as much as the showing pixels' extent lost on that side, so the margins stay."""

    cls: str
    box: Box4  # the label box now
    label: Box4  # the label box before anything covered the object
    extent: Box4  # the tight box of its pixels before anything covered them
    origin: tuple[int, int]  # (x, y) of `visible`'s top-left pixel in the image
    visible: np.ndarray  # bool window of the object's pixels that show
    area: int  # pixels it had before anything covered it
    source: str | None = None  # the bank object it was cut from; None for a background object


def background_layer(box: Sequence[float], cls: str, width: int, height: int) -> Layer:
    """A labelled object of the background. Without a mask, its pixels are taken as the
    ellipse inscribed in its box: most objects fill their box's middle, not its corners, so a
    corner covered hides nothing and a side covered edge to edge shrinks the box."""
    x0 = max(0, math.floor(box[0]))
    y0 = max(0, math.floor(box[1]))
    x1, y1 = max(x0 + 1, min(width, math.ceil(box[2]))), max(y0 + 1, min(height, math.ceil(box[3])))
    visible = ellipse_mask(y1 - y0, x1 - x0)
    label = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
    extent = (float(x0), float(y0), float(x1), float(y1))
    return Layer(cls, label, label, extent, (x0, y0), visible, int(visible.sum()))


def mask_box(mask: np.ndarray, origin: tuple[int, int]) -> Box4:
    """The tight box (pixel edges) of a window's True pixels, in image coordinates."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    x, y = origin
    return (
        float(x + cols[0]),
        float(y + rows[0]),
        float(x + cols[-1] + 1),
        float(y + rows[-1] + 1),
    )


def pasted_layer(
    mask: np.ndarray, origin: tuple[int, int], cls: str, source: str, label: Box4 | None = None
) -> Layer:
    """A pasted object: `label` is its box in the window's coordinates (its donor's labelled
    box, carried by the same scale); None: the mask's tight box. Either way it holds the mask."""
    extent = mask_box(mask, origin)
    if label is None:
        box = extent
    else:
        x, y = origin
        box = (
            min(label[0] + x, extent[0]),
            min(label[1] + y, extent[1]),
            max(label[2] + x, extent[2]),
            max(label[3] + y, extent[3]),
        )
    return Layer(cls, box, box, extent, origin, mask, int(mask.sum()), source)


def occlude(layer: Layer, mask: np.ndarray, origin: tuple[int, int]) -> Layer | None:
    """`layer` after `mask` (at `origin`) is pasted over it: unchanged, its box shrunk with the
    pixels that still show, or None when less than KEEP_VISIBLE of it shows."""
    lx, ly = layer.origin
    mx, my = origin
    height, width = layer.visible.shape
    x0, y0 = max(lx, mx), max(ly, my)
    x1, y1 = min(lx + width, mx + mask.shape[1]), min(ly + height, my + mask.shape[0])
    if x0 >= x1 or y0 >= y1:
        return layer
    covered = mask[y0 - my : y1 - my, x0 - mx : x1 - mx]
    window = layer.visible[y0 - ly : y1 - ly, x0 - lx : x1 - lx]
    if not (covered & window).any():
        return layer
    visible = layer.visible.copy()
    visible[y0 - ly : y1 - ly, x0 - lx : x1 - lx] &= ~covered
    if visible.sum() < KEEP_VISIBLE * layer.area:
        return None
    showing = mask_box(visible, layer.origin)
    moved = [now - before for now, before in zip(showing, layer.extent, strict=True)]
    left, top, right, bottom = (side + move for side, move in zip(layer.label, moved, strict=True))
    return replace(layer, box=(left, top, right, bottom), visible=visible)


def paste_over(
    layers: Sequence[Layer], mask: np.ndarray, origin: tuple[int, int], new: Layer
) -> tuple[list[Layer], list[Layer]]:
    """The layers after `new` is pasted on top of them, and those dropped."""
    kept, dropped = [], []
    for layer in layers:
        after = occlude(layer, mask, origin)
        if after is None:
            dropped.append(layer)
        else:
            kept.append(after)
    return [*kept, new], dropped


def max_ious(layers: Sequence[Layer]) -> np.ndarray:
    """Each layer's largest IoU with another layer (discovery's `overlap`)."""
    return max_overlaps(np.array([layer.box for layer in layers]))


def _inside(value: float, span: Range | None) -> bool:
    return span is None or span[0] <= value <= span[1]


def misses(
    layers: Sequence[Layer],
    long_side: int,
    size: Range | None,
    overlap: Range | None,
) -> list[str]:
    """Which pasted layers' sizes or overlaps lie outside their ranges (without an overlap
    target, a pasted object's overlap must stay under CLEAR_IOU)."""
    ious = max_ious(layers)
    sizes = box_sizes(np.array([layer.box for layer in layers]), long_side)
    out = []
    for k, layer in enumerate(layers):
        if layer.source is None:
            continue
        if not _inside(float(sizes[k]), size):
            out.append(f"box_size {k}")
        if not _inside(float(ious[k]), overlap or (0.0, CLEAR_IOU)):
            out.append(f"overlap {k}")
    return out


def iou_at_offset(
    width: float, height: float, partner: Sequence[float], dx: float, dy: float
) -> float:
    """IoU of a width x height box centred at the partner's centre plus (dx, dy) with the partner."""
    cx, cy = (partner[0] + partner[2]) / 2 + dx, (partner[1] + partner[3]) / 2 + dy
    box = np.array([[cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2]])
    return float(sv.box_iou_batch(box, np.array([partner[:4]]))[0, 0])


def offset_for_iou(
    width: float, height: float, partner: Sequence[float], iou: float, angle: float
) -> tuple[float, float]:
    """A centre offset along `angle` at which the box's IoU with the partner is `iou` (IoU falls
    monotonically as the box slides away along a ray), by bisection."""
    dx, dy = math.cos(angle), math.sin(angle)
    near, far = 0.0, (width + partner[2] - partner[0] + height + partner[3] - partner[1]) / 2 + 1
    for _ in range(30):
        middle = (near + far) / 2
        if iou_at_offset(width, height, partner, dx * middle, dy * middle) > iou:
            near = middle
        else:
            far = middle
    return dx * near, dy * near


@dataclass(frozen=True)
class Placement:
    """Where a new object goes and what the composite's labels become."""

    origin: tuple[int, int]
    layers: list[Layer]
    dropped: list[Layer]
    missed: list[str]


def place(
    layers: Sequence[Layer],
    mask: np.ndarray,
    cls: str,
    source: str,
    image_size: tuple[int, int],
    rng: np.random.Generator,
    size: Range | None = None,
    overlap: Range | None = None,
    label: Box4 | None = None,
) -> Placement:
    """A position for `mask` (a tight object window; `label` its box in the window's
    coordinates, None: the mask's tight box) in an image of (width, height): with an
    overlap range, slid against a partner until its IoU lands in the range; else anywhere clear
    of the others. Tried PLACEMENT_TRIES times; the first placement that leaves every pasted
    object in its ranges and drops no object wins, else the one missing least."""
    width, height = image_size
    mh, mw = mask.shape
    if mw > width or mh > height:
        raise ValueError(f"an object of {mw}x{mh} pixels does not fit a {width}x{height} image")
    pasted_before = [k for k, layer in enumerate(layers) if layer.source is not None]
    missed_before = set(misses(layers, max(width, height), size, overlap))
    best: tuple[tuple[int, int], Placement] | None = None
    for _ in range(PLACEMENT_TRIES):
        origin = _candidate(layers, mask, image_size, rng, overlap, pasted_before, missed_before)
        if origin is None:
            continue
        new = _clipped(pasted_layer(mask, origin, cls, source, label), width, height)
        after, dropped = paste_over(layers, mask, origin, new)
        missed = [
            m
            for m in misses(after, max(width, height), size, overlap)
            if not _was_missed(m, after, layers, missed_before)
        ]
        placement = Placement(origin, after, dropped, missed)
        lost_pasted = sum(layer.source is not None for layer in dropped)
        cost = (len(missed) + lost_pasted, len(dropped))
        if best is None or cost < best[0]:
            best = (cost, placement)
        if cost == (0, 0):
            break
    if best is None:
        raise ValueError("no position in the image fits the object")
    return best[1]


def _clipped(layer: Layer, width: int, height: int) -> Layer:
    """A pasted object's label box inside the image (its margins may reach past the border)."""
    x0, y0, x1, y1 = layer.box
    box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
    return replace(layer, box=box, label=box)


def _was_missed(
    miss: str, after: Sequence[Layer], before: Sequence[Layer], missed: set[str]
) -> bool:
    """Whether a miss of `after` is one an earlier pasted object already had before this paste
    (a lone first object cannot overlap anything yet: the next one may fix it, not break it)."""
    what, index = miss.split()
    source = after[int(index)].source
    return any(layer.source == source and f"{what} {k}" in missed for k, layer in enumerate(before))


def _candidate(
    layers: Sequence[Layer],
    mask: np.ndarray,
    image_size: tuple[int, int],
    rng: np.random.Generator,
    overlap: Range | None,
    pasted_before: list[int],
    missed_before: set[str],
) -> tuple[int, int] | None:
    width, height = image_size
    mh, mw = mask.shape
    if overlap is None or overlap[1] <= 0 or not layers:
        return int(rng.integers(0, width - mw + 1)), int(rng.integers(0, height - mh + 1))
    # A partner the new box can reach the range with (IoU is at most the smaller area over the
    # larger); earlier pasted objects still short of their overlap come first.
    area = mw * mh
    reachable = []
    for k, layer in enumerate(layers):
        x0, y0, x1, y1 = layer.box
        other = max((x1 - x0) * (y1 - y0), 1e-9)
        if min(area, other) / max(area, other) >= overlap[0]:
            reachable.append(k)
    if not reachable:
        return int(rng.integers(0, width - mw + 1)), int(rng.integers(0, height - mh + 1))
    waiting = [k for k in reachable if k in pasted_before and f"overlap {k}" in missed_before]
    partner = layers[int(rng.choice(waiting or reachable))].box
    x0, y0, x1, y1 = partner
    other = (x1 - x0) * (y1 - y0)
    ceiling = min(area, other) / max(area, other)
    iou = float(rng.uniform(overlap[0], min(overlap[1], ceiling)))
    dx, dy = offset_for_iou(mw, mh, partner, iou, float(rng.uniform(0, 2 * math.pi)))
    left = round((x0 + x1) / 2 + dx - mw / 2)
    top = round((y0 + y1) / 2 + dy - mh / 2)
    if left < 0 or top < 0 or left + mw > width or top + mh > height:
        return None
    return left, top
