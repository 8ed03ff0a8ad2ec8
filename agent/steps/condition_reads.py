"""Scene conditions estimated from what a user has (pixels, and val's labelled boxes), never
from a rendered world's truth: each val image's, each unlabelled deployment image's, and how
much more common deployment makes each lighting and weather value than val.

The targeted planner's levers read them here, so all read them the same way: exploration
(`loop.exploration: thompson`), the blamed values (`loop.blamed_values: deployment`) and the
miss weights (`loop.free_conditions` and `loop.subject_classes: misses`); so does the gate's
deployment objective (`gate.objective: deployment`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from agent.steps.failures import deployment_paths
from evaluation.deployment_objective import DeploymentWeighting, pooled_prevalence
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


def deployment_weighting(deps: Deps) -> DeploymentWeighting:
    """What weighs val objects to the deployment for the gate: val images' conditions and the
    deployment prevalence of their lighting and weather, smoothed toward the pooled share (the
    planners' uniform smoothing would weigh up a value deployment lacks)."""
    val = val_conditions(deps)
    deployed = [pixel_conditions(str(p)) for p in deployment_paths(deps)]
    prevalence = pooled_prevalence(deployed, list(val.values()), CONDITIONS, PIXEL_CONDITIONS)
    return DeploymentWeighting(val, prevalence)


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
