"""Failure-slice discovery from images, ground truth and predictions alone (never the world's tags)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import supervision as sv
from pydantic import BaseModel, Field

from tools.convert import class_ids
from tools.image_attributes import image_attributes

# Attributes measured per object (image attributes are copied onto each of its objects).
IMAGE_ATTRIBUTES = ("brightness", "contrast", "haze", "streaks", "specks", "sharpness")
OBJECT_ATTRIBUTES = ("box_size", "overlap")
# Quantile bins with narrow tails: a rare condition (night is a tenth of field objects) gets a
# bin of its own instead of drowning in a third of the data.
BIN_QUANTILES = (0.1, 1 / 3, 2 / 3, 0.9)
BIN_NAMES = ("lowest", "low", "mid", "high", "highest")


class FailureSlice(BaseModel):
    """A group of objects defined by attribute bins where the detector misses more than usual."""

    name: str = Field(description="e.g. 'brightness=low & class=person'")
    conditions: dict[str, str] = Field(description="attribute -> bin (or class name)")
    support: int = Field(description="objects in the slice")
    recall: float
    deficit: float = Field(
        description="expected recall (overall, or as size predicts) minus slice recall"
    )
    score: float = Field(
        description="deficit x support share (x deployment weight when given); the ranking key"
    )
    stats: dict[str, float] = Field(default_factory=dict, description="mean attributes")
    overall_stats: dict[str, float] = Field(default_factory=dict, description="over all objects")
    example_ids: list[str] = Field(default_factory=list, description="samples with misses")
    optimistic_deficit: float | None = Field(
        None,
        description="upper quantile of the slice's miss rate (Beta posterior) minus the miss "
        "rate expected of its objects: how bad it may be, given how few objects show it",
    )
    named_by: Literal["impact", "uncertainty"] = Field(
        "impact",
        description="impact: ranked by `score`; uncertainty: an exploration slot, ranked by "
        "`optimistic_deficit` (x deployment weight), so a rare failure is named and tested",
    )


@dataclass
class ObjectTable:
    """One row per ground-truth object: attributes, class, sample id and whether it was found."""

    sample_ids: list[str]
    classes: np.ndarray
    values: dict[str, np.ndarray]
    found: np.ndarray


def image_statistics(path: str) -> dict[str, float]:
    """Brightness, contrast, haze (dark channel), streak and speck energy, and sharpness: measured
    in tools/image_attributes (cached there), where generators aim at the same numbers."""
    return image_attributes(path)


def match_found(
    truth: sv.Detections, predicted: sv.Detections, conf: float, iou: float = 0.5
) -> np.ndarray:
    """For each true box: is it matched by a prediction of its class (confidence >= conf, IoU >= iou)?"""
    found = np.zeros(len(truth), dtype=bool)
    if len(truth) == 0 or len(predicted) == 0:
        return found
    confidence = (
        np.ones(len(predicted))
        if predicted.confidence is None
        else np.asarray(predicted.confidence)
    )
    keep = confidence >= conf
    if not keep.any():
        return found
    boxes, predicted_ids = predicted.xyxy[keep], class_ids(predicted)[keep]
    truth_ids = class_ids(truth)
    order = np.argsort(-confidence[keep])
    ious = sv.box_iou_batch(boxes[order], truth.xyxy)
    for row, p in enumerate(order):
        candidates = np.where((ious[row] >= iou) & ~found & (truth_ids == predicted_ids[p]))[0]
        if len(candidates):
            found[candidates[np.argmax(ious[row, candidates])]] = True
    return found


def build_object_table(
    sample_ids: Sequence[str],
    paths: Sequence[str],
    sizes: Sequence[int],
    truths: Sequence[sv.Detections],
    predictions: Sequence[sv.Detections],
    class_names: Sequence[str],
    conf: float,
) -> ObjectTable:
    rows: dict[str, list[float]] = {name: [] for name in IMAGE_ATTRIBUTES + OBJECT_ATTRIBUTES}
    ids: list[str] = []
    classes: list[str] = []
    found: list[bool] = []
    for sample_id, path, size, truth, predicted in zip(
        sample_ids, paths, sizes, truths, predictions, strict=True
    ):
        if len(truth) == 0:
            continue
        stats = image_statistics(path)
        widths = truth.xyxy[:, 2] - truth.xyxy[:, 0]
        heights = truth.xyxy[:, 3] - truth.xyxy[:, 1]
        ious = sv.box_iou_batch(truth.xyxy, truth.xyxy)
        np.fill_diagonal(ious, 0)
        for k in range(len(truth)):
            for name in IMAGE_ATTRIBUTES:
                rows[name].append(stats[name])
            rows["box_size"].append(float(np.sqrt(widths[k] * heights[k]) / size))
            rows["overlap"].append(float(ious[k].max()) if len(truth) > 1 else 0.0)
            ids.append(sample_id)
            classes.append(class_names[int(class_ids(truth)[k])])
        found.extend(match_found(truth, predicted, conf).tolist())
    return ObjectTable(
        ids,
        np.array(classes),
        {k: np.array(v) for k, v in rows.items()},
        np.array(found, dtype=bool),
    )


def bin_edges(table: ObjectTable) -> dict[str, list[float]]:
    """Quantile edges per attribute: tails of a tenth, then thirds around the middle."""
    return {
        name: np.quantile(values, BIN_QUANTILES).tolist() if len(values) else [0.0] * 4
        for name, values in table.values.items()
    }


def assign_bins(table: ObjectTable, edges: dict[str, list[float]]) -> dict[str, np.ndarray]:
    bins = {
        name: np.array(BIN_NAMES)[np.digitize(table.values[name], edges[name])]
        for name in table.values
    }
    bins["class"] = table.classes
    return bins


def slice_mask(bins: dict[str, np.ndarray], conditions: dict[str, str]) -> np.ndarray:
    mask = np.ones(len(next(iter(bins.values()))), dtype=bool)
    for attribute, value in conditions.items():
        mask &= bins[attribute] == value
    return mask


def expected_recall(
    bins: dict[str, np.ndarray], found: np.ndarray, given: Sequence[str], prior: float = 5.0
) -> np.ndarray:
    """Per object, the recall of objects like it in the `given` attributes' bins alone (their
    cell's recall, smoothed towards the overall recall with `prior` pseudo-objects).

    With `given` = box size and overlap, a slice's deficit against this is what the detector
    misses beyond what object size and occlusion explain: small and hidden objects are missed
    at any amount of data at a fixed input resolution, so only the excess is worth images.
    """
    overall = float(found.mean())
    if not given:
        return np.full(len(found), overall)
    cells = np.array(["|".join(parts) for parts in zip(*(bins[g] for g in given), strict=True)])
    expected = np.empty(len(found))
    for cell in np.unique(cells):
        inside = cells == cell
        expected[inside] = (found[inside].sum() + prior * overall) / (inside.sum() + prior)
    return expected


def deployment_weight(
    bins: dict[str, np.ndarray],
    mask: np.ndarray,
    conditions: dict[str, str],
    deploy_bins: dict[str, np.ndarray],
) -> float:
    """How much more common a slice's image conditions are where the detector is deployed than
    on `val`: per image attribute of the slice, its bin's share of deployment images over its
    share of val objects (both add-one smoothed), multiplied. Object attributes (size, overlap,
    class) are not seen on unlabelled images and weigh 1."""
    weight = 1.0
    for attribute, value in conditions.items():
        if attribute not in deploy_bins:
            continue
        here = deploy_bins[attribute]
        deployed = ((here == value).sum() + 1) / (len(here) + len(BIN_NAMES))
        seen = ((bins[attribute] == value).sum() + 1) / (len(mask) + len(BIN_NAMES))
        weight *= float(deployed / seen)
    return weight


def optimistic_miss_rate(missed: int, support: int, quantile: float = 0.9) -> float:
    """The `quantile` of a slice's miss rate under a uniform prior: Beta(missed + 1, found + 1).

    Few objects give a wide posterior and an upper quantile well above the observed rate (2 of
    10 found: 0.90 at 0.9), many objects one close to it (240 of 400 found: 0.43): optimism in
    the face of uncertainty, so a failure val barely holds is named rather than never seen.
    """
    from scipy.stats import beta

    return float(beta.ppf(quantile, missed + 1, support - missed + 1))


def discover_slices(
    table: ObjectTable,
    edges: dict[str, list[float]],
    top_k: int = 3,
    min_support: int = 20,
    max_examples: int = 8,
    shrinkage: float | None = None,
    adjust_for: Sequence[str] = (),
    deployment: dict[str, np.ndarray] | None = None,
    explore: int = 0,
    explore_support: int = 8,
    optimism: float = 0.9,
) -> list[FailureSlice]:
    """Rank single attributes and pairs by recall deficit x support share; return the top ones.

    With `shrinkage` (k pseudo-objects at the overall recall), slices rank by their shrunk
    deficit instead: a small slice with a large deficit can win, and its deficit is trusted
    only as far as its objects support it (k / (support + k) of it is pulled to the mean).
    With `adjust_for` (attributes such as box size and overlap), a slice's deficit is measured
    against the recall its objects' bins of those attributes predict (`expected_recall`), not
    the overall recall: failures those attributes already explain rank low.
    With `deployment` (image attributes of unlabelled images from where the detector is
    deployed), a slice's score is also weighted by how much more common its image conditions
    are there than on `val` (`deployment_weight`): a failure rare in the field but common in
    deployment can win.
    With `explore` > 0, that many more slices follow the `top_k`, named by uncertainty: among
    slices of at least `explore_support` objects (fewer than `min_support` allowed) whose
    recall is below expected, the highest optimistic deficit, `optimistic_miss_rate(missed,
    support, optimism)` minus the expected miss rate (1 - mean expected recall of its objects),
    times the deployment weight when deployment images are given.
    """
    if len(table.found) == 0:
        return []
    bins = assign_bins(table, edges)
    expected = expected_recall(bins, table.found, adjust_for)
    deploy_bins = {
        name: np.array(BIN_NAMES)[np.digitize(values, edges[name])]
        for name, values in (deployment or {}).items()
        if name in edges
    }
    total = len(table.found)
    smallest = min(min_support, explore_support) if explore else min_support
    candidates: list[FailureSlice] = []
    weights: dict[str, float] = {}
    for conditions in _condition_groups(bins):
        mask = slice_mask(bins, conditions)
        support = int(mask.sum())
        if support < smallest:
            continue
        deficit = float(expected[mask].mean()) - float(table.found[mask].mean())
        if deficit <= 0:
            continue
        weight = deployment_weight(bins, mask, conditions, deploy_bins) if deploy_bins else 1.0
        scale = total if shrinkage is None else support + shrinkage
        score = deficit * support / scale * weight
        failure = _failure_slice(table, mask, conditions, expected, score, max_examples, optimism)
        weights[failure.name] = weight
        candidates.append(failure)
    return _ranked(candidates, weights, min_support, top_k, explore)


def _condition_groups(bins: dict[str, np.ndarray]) -> list[dict[str, str]]:
    """Every single attribute bin, and every pair of bins of two different attributes."""
    singles = [(a, v) for a in bins for v in np.unique(bins[a])]
    groups = [[s] for s in singles] + [
        [s, t] for s, t in itertools.combinations(singles, 2) if s[0] != t[0]
    ]
    return [dict(group) for group in groups]


def _failure_slice(
    table: ObjectTable,
    mask: np.ndarray,
    conditions: dict[str, str],
    expected: np.ndarray,
    score: float,
    max_examples: int,
    optimism: float,
) -> FailureSlice:
    """The objects under `mask` as a failure slice: recall, deficit, statistics and the images
    of its missed objects."""
    support = int(mask.sum())
    recall = float(table.found[mask].mean())
    missed = int((mask & ~table.found).sum())
    missed_ids = [table.sample_ids[i] for i in np.where(mask & ~table.found)[0]]
    return FailureSlice(
        name=" & ".join(f"{a}={v}" for a, v in conditions.items()),
        conditions=conditions,
        support=support,
        recall=recall,
        deficit=float(expected[mask].mean()) - recall,
        score=score,
        stats={name: float(values[mask].mean()) for name, values in table.values.items()},
        overall_stats={name: float(values.mean()) for name, values in table.values.items()},
        example_ids=list(dict.fromkeys(missed_ids))[:max_examples],
        optimistic_deficit=optimistic_miss_rate(missed, support, optimism)
        - (1 - float(expected[mask].mean())),
    )


def _ranked(
    candidates: list[FailureSlice],
    weights: dict[str, float],
    min_support: int,
    top_k: int,
    explore: int,
) -> list[FailureSlice]:
    """The `top_k` by score among slices of `min_support` objects, then `explore` more named by
    uncertainty (the highest optimistic deficit, deployment-weighted), none overlapping."""
    chosen: list[FailureSlice] = []
    impact = sorted(
        (c for c in candidates if c.support >= min_support), key=lambda s: s.score, reverse=True
    )
    _choose(impact, chosen, top_k)
    if explore:
        uncertain = sorted(
            candidates,
            key=lambda s: (s.optimistic_deficit or 0.0) * weights[s.name],
            reverse=True,
        )
        first = len(chosen)
        _choose(uncertain, chosen, explore)
        chosen[first:] = [s.model_copy(update={"named_by": "uncertainty"}) for s in chosen[first:]]
    return chosen


def _choose(ranked: Sequence[FailureSlice], chosen: list[FailureSlice], count: int) -> None:
    """Append to `chosen` up to `count` of `ranked`, in order, that overlap none chosen."""
    added = 0
    for candidate in ranked:
        if added == count:
            break
        # A slice nested in a chosen one, or a neighbouring bin of the same attributes
        # (box_size=low after box_size=lowest), adds little: skip it.
        if any(
            set(c.conditions.items()) <= set(candidate.conditions.items())
            or set(candidate.conditions.items()) <= set(c.conditions.items())
            or set(c.conditions) == set(candidate.conditions)
            for c in chosen
        ):
            continue
        chosen.append(candidate)
        added += 1
