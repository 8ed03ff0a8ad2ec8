"""Where a targeted slice's misses are: per condition value and per class, from val alone.

The targeted planner's optional levers (`loop.free_conditions: misses`, `loop.subject_classes:
misses`, `loop.blamed_values: deployment`) weigh their draws by these; they read pixels, boxes
and predictions, and the unlabelled deployment images' pixels, never world truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agent.steps.explore_plan import PIXEL_CONDITIONS, pixel_conditions, smoothed_share
from agent.steps.failures import deployment_paths, val_object_table
from evaluation.field_conditions import estimate_image_conditions
from evaluation.slices import assign_bins, slice_mask
from tools.vocabulary import CONDITIONS

if TYPE_CHECKING:
    from agent.ports import Deps
    from agent.state import LoopState


def miss_weights(deps: Deps, state: LoopState) -> dict[str, dict[str, dict[str, float]]]:
    """Per target slice, condition and value: the slice's miss rate on `val` among objects whose
    image reads as that value (conditions estimated from pixels and boxes; Laplace-smoothed)."""
    view = deps.datasets.split("val")
    samples = deps.datasets.samples(view)
    labels = deps.datasets.labels(view)
    estimated = {
        s.id: estimate_image_conditions(str(s.path), s.longest_side, d)
        for s, d in zip(samples, labels, strict=True)
    }
    table = val_object_table(deps, state.incumbent)
    bins = assign_bins(table, state.bin_edges)
    weights: dict[str, dict[str, dict[str, float]]] = {}
    for failure in state.slices:
        rows = np.where(slice_mask(bins, failure.conditions))[0]
        per_condition: dict[str, dict[str, float]] = {}
        for name, values in CONDITIONS.items():
            per_condition[name] = {}
            for value in values:
                here = [k for k in rows if estimated[table.sample_ids[k]][name] == value]
                missed = sum(not table.found[k] for k in here)
                per_condition[name][value] = (missed + 1) / (len(here) + 2)
        weights[failure.name] = per_condition
    return weights


def missed_classes(deps: Deps, state: LoopState) -> dict[str, dict[str, float]]:
    """Per target slice and class: the slice's val objects of that class the incumbent missed,
    plus one (so that a class with no miss keeps a little of the budget)."""
    table = val_object_table(deps, state.incumbent)
    bins = assign_bins(table, state.bin_edges)
    weights: dict[str, dict[str, float]] = {}
    for failure in state.slices:
        missed = slice_mask(bins, failure.conditions) & ~table.found
        weights[failure.name] = {
            name: float(np.sum(missed & (table.classes == name)) + 1)
            for name in deps.settings.classes
        }
    return weights


def deployment_miss_weights(
    deps: Deps, misses: dict[str, dict[str, dict[str, float]]]
) -> dict[str, dict[str, dict[str, float]]]:
    """Per target slice, pixel condition (lighting, weather) and value: the misses the slice
    would meet in deployment under that value, up to a constant: its val miss rate under the
    value (`misses`, from `miss_weights`) times the value's share among the deployment images
    (read from their pixels, Laplace-smoothed so that a value they never show keeps a little)."""
    deployed = [pixel_conditions(str(p)) for p in deployment_paths(deps)]
    shares = {
        name: {
            v: smoothed_share(deployed, name, v, len(CONDITIONS[name])) for v in CONDITIONS[name]
        }
        for name in PIXEL_CONDITIONS
    }
    return {
        failure: {
            name: {v: rates[name][v] * share for v, share in shares[name].items()}
            for name in PIXEL_CONDITIONS
        }
        for failure, rates in misses.items()
    }
