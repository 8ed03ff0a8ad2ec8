"""Scene conditions estimated from what a user has (pixels, val's labelled boxes, a model's
predicted boxes), never from a rendered world's truth: each val image's, each unlabelled
deployment image's, and how much more common deployment makes each value than val.

The targeted planner's levers read them here, so all read them the same way: exploration
(`loop.exploration: thompson`), the blamed values (`loop.blamed_values: deployment`) and the
miss weights (`loop.free_conditions` and `loop.subject_classes: misses`), from pixels and val's
labels (lighting and weather only for the deployment). The gate's deployment objective
(`gate.objective: deployment`) reads all four conditions, the deployment's distance and
crowding from the incumbent's predicted boxes, corrected on val (`deployment_weighting`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import supervision as sv
from PIL import Image

from agent.steps.failures import deployment_paths, pred_field, predictions_cached
from evaluation.deployment_objective import DeploymentWeighting, shifted_prevalence
from evaluation.field_conditions import (
    estimate_conditions,
    estimate_image_conditions,
    scene_statistics,
)
from tools.vocabulary import CONDITIONS

if TYPE_CHECKING:
    from agent.ports import Deps

# Conditions an unlabelled image shows in its pixels alone; distance and crowding need boxes.
PIXEL_CONDITIONS = ("lighting", "weather")


def val_conditions(deps: Deps) -> dict[str, dict[str, str]]:
    """Each val image's conditions (by sample id), estimated from its pixels and boxes."""
    view = deps.datasets.split("val")
    samples = deps.datasets.samples(view)
    labels = deps.datasets.labels(view)
    return {
        s.id: estimate_image_conditions(str(s.path), s.longest_side, d)
        for s, d in zip(samples, labels, strict=True)
    }


def pixel_conditions(path: str) -> dict[str, str]:
    """Lighting and weather of an unlabelled image (its distance and crowding, read from boxes
    it does not have, are dropped: their prevalence stays 1)."""
    conditions = estimate_conditions(scene_statistics(path), np.zeros(0), 0.0, 0)
    return {name: conditions[name] for name in PIXEL_CONDITIONS}


def deployment_prevalence_of(
    deps: Deps, val: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, float]]:
    """`deployment_prevalence` (lighting and weather) of the deployment images against `val`
    (`val_conditions`); `loop.deploy_images` must be set (`deployment_paths` says so if not)."""
    deployed = [pixel_conditions(str(p)) for p in deployment_paths(deps)]
    return deployment_prevalence(deployed, list(val.values()), CONDITIONS)


def deployment_weighting(deps: Deps, incumbent: str) -> DeploymentWeighting:
    """What weighs val objects to the deployment for the gate: each val image's four conditions
    (read with its labelled boxes) and their deployment prevalence (`shifted_prevalence`).

    Deployment images have no labels: their distance and crowding are read from `incumbent`'s
    predicted boxes (predicted once per model and cached), and corrected by how that reading
    errs on val, where both readings exist. Reading val from predictions too would tie each
    weight to the model's own misses (an image whose far objects it missed reads as mid)."""
    conf = deps.settings.evaluation.conf_threshold
    labelled = val_conditions(deps)
    view = deps.datasets.split("val")
    # The same val images, in the same order, read from the incumbent's boxes instead.
    predicted = [
        estimate_image_conditions(str(s.path), s.longest_side, _confident(boxes, conf))
        for s, boxes in zip(
            deps.datasets.samples(view),
            deps.datasets.labels(view, pred_field(incumbent)),
            strict=True,
        )
    ]
    paths = deployment_paths(deps)
    deployed = [
        estimate_image_conditions(str(path), _longest_side(path), _confident(d, conf))
        for path, d in zip(paths, predictions_cached(deps, incumbent, "deploy", paths), strict=True)
    ]
    prevalence = shifted_prevalence(
        list(labelled.values()), predicted, deployed, CONDITIONS, tuple(CONDITIONS)
    )
    return DeploymentWeighting(labelled, prevalence)


def _confident(detections: sv.Detections, conf: float) -> sv.Detections:
    if detections.confidence is None or len(detections) == 0:
        return detections
    kept = detections[detections.confidence >= conf]
    assert isinstance(kept, sv.Detections)  # a boolean mask selects Detections
    return kept


def _longest_side(path: Path) -> int:
    with Image.open(path) as image:
        return max(image.size)


def deployment_prevalence(
    deployed: Sequence[Mapping[str, str]],
    val: Sequence[Mapping[str, str]],
    vocabulary: Mapping[str, Sequence[str]],
    conditions: Sequence[str] = PIXEL_CONDITIONS,
) -> dict[str, dict[str, float]]:
    """Per condition and value: its share among deployment images over its share among val
    images, each share Laplace-smoothed ((count + 1) / (images + values)). With D deployment
    and V val images, k values, and d of the deployment images showing the value, a value val
    never shows weighs (d + 1)(V + k) / (D + k) instead of infinity, and one neither shows
    (V + k) / (D + k). Conditions not in `conditions` are left out
    (1 where unknown)."""
    prevalence: dict[str, dict[str, float]] = {}
    for name in conditions:
        values = list(vocabulary[name])
        prevalence[name] = {
            value: _smoothed_share(deployed, name, value, len(values))
            / _smoothed_share(val, name, value, len(values))
            for value in values
        }
    return prevalence


def _smoothed_share(images: Sequence[Mapping[str, str]], name: str, value: str, k: int) -> float:
    return (sum(c.get(name) == value for c in images) + 1) / (len(images) + k)
