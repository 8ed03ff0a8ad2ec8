"""Requests for a user's own photographs: paste the failing classes, edit toward measured attributes.

A workspace without a world has no scene to render. Its failure slices are bins of attributes
measured from pixels and boxes (evaluation/slices.py), so a request names numeric ranges of
those same attributes (`GenerationRequest.targets`), the classes to paste and a train image to
paste them into; the paste generator makes it and the attribute read-back measures it again.
Every planning strategy has a version here, with the same budget rules as the world's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.steps.prompts import allocate, evidence_scores, refuted
from evaluation.slices import BIN_NAMES, FailureSlice, ObjectTable, assign_bins, slice_mask
from tools.analyst.base import FailureAnalysis, Hypothesis
from tools.generator.base import EditSource, GenerationRequest

# What the paste generator can aim at: image attributes it edits and object attributes it
# places. Streaks and specks (rain and snow on a street) are measured but never asked for.
IMAGE_TARGETS = ("brightness", "contrast", "haze", "sharpness")
OBJECT_TARGETS = ("box_size", "overlap")
AIMABLE = frozenset(IMAGE_TARGETS + OBJECT_TARGETS)
# Objects pasted per image: a few, more when overlap is what fails (it takes two to overlap).
OBJECTS = (1.0, 3.0)
CROWDED_OBJECTS = (2.0, 4.0)
# A blamed attribute aims at the middle of its missed objects' values when there are enough.
MIN_MISSES = 5
MISS_QUANTILES = (0.2, 0.8)
Range = tuple[float, float]


@dataclass(frozen=True)
class AttributeScale:
    """Numeric ranges of each attribute's bins on the val objects, for turning bins into targets."""

    ranges: dict[str, dict[str, Range]]

    @classmethod
    def of(cls, table: ObjectTable, edges: dict[str, list[float]]) -> AttributeScale:
        ranges: dict[str, dict[str, Range]] = {}
        for name, values in table.values.items():
            cuts = edges.get(name)
            if cuts is None or len(values) == 0:
                continue
            # The outer bins end at the 2nd and 98th percentiles, not at a stray extreme.
            low, high = (float(v) for v in np.quantile(values, (0.02, 0.98)))
            bounds = [min(low, cuts[0]), *cuts, max(high, cuts[-1])]
            ranges[name] = {
                bin_name: (float(bounds[k]), float(bounds[k + 1]))
                for k, bin_name in enumerate(BIN_NAMES)
            }
        return cls(ranges)

    def bin_range(self, attribute: str, bin_name: str) -> Range | None:
        return self.ranges.get(attribute, {}).get(bin_name)


def _direction_bin(bin_name: str) -> str:
    """An analyst may blame a direction (low, high) rather than a bin: the outer bin for it."""
    return {"low": "lowest", "high": "highest"}.get(bin_name, bin_name)


def targets_for(
    hypothesis: Hypothesis,
    failure: FailureSlice,
    table: ObjectTable,
    bins: dict[str, np.ndarray],
    scale: AttributeScale,
) -> dict[str, Range]:
    """The numeric ranges a hypothesis' images aim at: per blamed attribute, the middle of the
    slice's missed objects' values (within the blamed bin when the slice is defined by it), or
    the bin's range when too few objects were missed to say."""
    missed = slice_mask(bins, failure.conditions) & ~table.found
    targets: dict[str, Range] = {}
    for attribute, bin_name in hypothesis.attributes.items():
        if attribute not in AIMABLE or attribute not in table.values:
            continue
        in_slice = failure.conditions.get(attribute)
        span = scale.bin_range(attribute, in_slice or _direction_bin(bin_name))
        values = table.values[attribute][missed]
        if len(values) >= MIN_MISSES:
            low, high = (float(v) for v in np.quantile(values, MISS_QUANTILES))
            if span is not None and in_slice:  # stay inside the bin that defines the slice
                low, high = max(low, span[0]), min(high, span[1])
                if low >= high:
                    low, high = span
            targets[attribute] = (low, high)
        elif span is not None:
            targets[attribute] = span
    return targets


def _class_weights(
    failure: FailureSlice, table: ObjectTable, bins: dict[str, np.ndarray], classes: Sequence[str]
) -> dict[str, float]:
    """The slice's missed val objects per class, plus one (every class keeps a little)."""
    missed = slice_mask(bins, failure.conditions) & ~table.found
    return {c: float(np.sum(missed & (table.classes == c)) + 1) for c in classes}


def _draw(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([max(weights[n], 0.0) for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def describe(classes: Sequence[str], targets: dict[str, Range], objects: Range) -> str:
    """The request in words, as the review panel shows it (no scene: attributes and classes)."""
    what = " or ".join(classes) if classes else "objects"
    text = f"paste {objects[0]:.0f}-{objects[1]:.0f} {what} into a train image"
    aims = ", ".join(f"{name} {low:.3g}-{high:.3g}" for name, (low, high) in targets.items())
    return f"{text}; {aims}" if aims else text


def _request(
    batch_id: str,
    index: int,
    slice_name: str,
    rng: np.random.Generator,
    focus: list[str],
    targets: dict[str, Range],
    backgrounds: Sequence[EditSource],
) -> GenerationRequest:
    objects = CROWDED_OBJECTS if "overlap" in targets else OBJECTS
    background = backgrounds[int(rng.integers(len(backgrounds)))] if backgrounds else None
    return GenerationRequest(
        id=f"{batch_id}-{index:04d}",
        slice_name=slice_name,
        prompt=describe(focus, targets, objects),
        conditions={},
        class_focus=focus,
        seed=int(rng.integers(2**31 - 1)),
        mode="paste",
        source_sample_id=background.sample_id if background else None,
        source_path=background.path if background else None,
        source_boxes=background.boxes if background else [],
        targets={**targets, "objects": objects},
    )


def aimed_requests(
    analysis: FailureAnalysis,
    slices: Sequence[FailureSlice],
    table: ObjectTable,
    edges: dict[str, list[float]],
    classes: Sequence[str],
    backgrounds: Sequence[EditSource],
    images: int,
    seed: int,
    batch_id: str,
    floor_share: float,
    verdicts: dict[str, str] | None = None,
) -> list[GenerationRequest]:
    """The targeted (and oracle) plan: budget per hypothesis by its slice's score; each image
    pastes the slice's classes (its own, else drawn by its missed objects) and aims at the
    attributes the hypothesis blames. A hypothesis whose counterfactual verdict (`verdicts`,
    slice -> verdict) is `not supported` gets the floor alone and aims at no attribute."""

    rng = np.random.default_rng(seed)
    by_name = {s.name: s for s in slices}
    hypotheses = [h for h in analysis.hypotheses if h.slice_name in by_name]
    counts = allocate(evidence_scores(hypotheses, by_name, verdicts), images, floor_share)
    bins = assign_bins(table, edges)
    scale = AttributeScale.of(table, edges)
    requests: list[GenerationRequest] = []
    for hypothesis, count in zip(hypotheses, counts, strict=True):
        failure = by_name[hypothesis.slice_name]
        freed = refuted(hypothesis, verdicts)
        targets = {} if freed else targets_for(hypothesis, failure, table, bins, scale)
        own = [c for c in hypothesis.classes if c in classes]
        weights = _class_weights(failure, table, bins, classes)
        for _ in range(count):
            focus = own or [_draw(rng, weights)]
            requests.append(
                _request(batch_id, len(requests), failure.name, rng, focus, targets, backgrounds)
            )
    return requests


def uniform_requests(
    table: ObjectTable,
    edges: dict[str, list[float]],
    classes: Sequence[str],
    backgrounds: Sequence[EditSource],
    images: int,
    seed: int,
    batch_id: str,
) -> list[GenerationRequest]:
    """Domain randomisation over the attributes: each image's class uniform, and each aimable
    attribute in a bin drawn uniformly (a uniform share of dark, hazy, small... images)."""
    rng = np.random.default_rng(seed)
    scale = AttributeScale.of(table, edges)
    requests = []
    for index in range(images):
        targets: dict[str, Range] = {}
        for attribute in (*IMAGE_TARGETS, "box_size"):
            span = scale.bin_range(attribute, str(rng.choice(BIN_NAMES)))
            if span is not None:
                targets[attribute] = span
        focus = [str(rng.choice(list(classes)))]
        requests.append(_request(batch_id, index, "uniform", rng, focus, targets, backgrounds))
    return requests


def generic_requests(
    class_counts: dict[str, int],
    backgrounds: Sequence[EditSource],
    images: int,
    seed: int,
    batch_id: str,
) -> list[GenerationRequest]:
    """More data like the field: a class drawn by its share of the train objects, pasted at its
    donors' own sizes into train images left as they are (the field's own attribute mix)."""
    rng = np.random.default_rng(seed)
    weights = {c: n + 1.0 for c, n in class_counts.items()}
    return [
        _request(batch_id, index, "generic", rng, [_draw(rng, weights)], {}, backgrounds)
        for index in range(images)
    ]


def oracle_slices(chosen: dict[str, float]) -> tuple[list[FailureSlice], FailureAnalysis]:
    """The benchmark's pre-registered worst test slices (`a=x & b=y` -> deficit) as slices and
    hypotheses blaming exactly their attributes and class."""
    slices, hypotheses = [], []
    for name, deficit in chosen.items():
        conditions = dict(part.strip().split("=", 1) for part in name.split("&"))
        slices.append(
            FailureSlice(
                name=name,
                conditions=conditions,
                support=1,
                recall=0.0,
                deficit=deficit,
                score=deficit,
            )
        )
        hypotheses.append(
            Hypothesis(
                slice_name=name,
                what_fails=name,
                why="the benchmark's worst test slice (oracle)",
                attributes={k: v for k, v in conditions.items() if k != "class"},
                classes=[conditions["class"]] if "class" in conditions else [],
                confidence=1.0,
            )
        )
    return slices, FailureAnalysis(analyst="oracle", hypotheses=hypotheses)
