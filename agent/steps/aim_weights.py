"""Where a targeted slice's misses are: per condition value and per class, from val alone.

The targeted planner's optional levers (`loop.free_conditions: misses`, `loop.subject_classes:
misses`, `loop.blamed_values: deployment`) weigh their draws by these; they read pixels, boxes
and predictions, and the unlabelled deployment images' pixels, never world truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agent.steps.condition_reads import deployment_prevalence_of, val_conditions
from agent.steps.failures import val_object_table
from evaluation.slices import assign_bins, slice_mask
from tools.vocabulary import CONDITIONS

if TYPE_CHECKING:
    from agent.ports import Deps
    from agent.state import LoopState


def miss_weights(deps: Deps, state: LoopState) -> dict[str, dict[str, dict[str, float]]]:
    """Per target slice, condition and value: the slice's miss rate on `val` among objects whose
    image reads as that value (conditions estimated from pixels and boxes; Laplace-smoothed)."""
    counts = _slice_counts(deps, state, val_conditions(deps))
    return {
        failure: {
            name: {v: (missed + 1) / (seen + 2) for v, (missed, seen) in values.items()}
            for name, values in per_condition.items()
        }
        for failure, per_condition in counts.items()
    }


def _slice_counts(
    deps: Deps, state: LoopState, estimated: dict[str, dict[str, str]]
) -> dict[str, dict[str, dict[str, tuple[int, int]]]]:
    """Per target slice, condition and value: (objects missed, objects) of the slice on val
    whose image reads as that value, by the incumbent."""
    table = val_object_table(deps, state.incumbent)
    bins = assign_bins(table, state.bin_edges)
    counts: dict[str, dict[str, dict[str, tuple[int, int]]]] = {}
    for failure in state.slices:
        rows = np.where(slice_mask(bins, failure.conditions))[0]
        counts[failure.name] = {}
        for name, values in CONDITIONS.items():
            counts[failure.name][name] = {}
            for value in values:
                here = [k for k in rows if estimated[table.sample_ids[k]][name] == value]
                missed = sum(not table.found[k] for k in here)
                counts[failure.name][name][value] = (missed, len(here))
    return counts


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


def deployment_miss_weights(deps: Deps, state: LoopState) -> dict[str, dict[str, dict[str, float]]]:
    """Per target slice, pixel condition (lighting, weather) and value: the slice's misses that
    deployment would meet under that value, up to a constant (`expected_misses`), from the val
    misses and the unlabelled deployment images (`loop.deploy_images`), both read from pixels."""
    estimated = val_conditions(deps)
    prevalence = deployment_prevalence_of(deps, estimated)
    return expected_misses(_slice_counts(deps, state, estimated), prevalence)


def expected_misses(
    counts: dict[str, dict[str, dict[str, tuple[int, int]]]],
    prevalence: dict[str, dict[str, float]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Per slice and condition of `prevalence`: each value's val misses in the slice times the
    value's prevalence (its deployment share over its val share), the importance weight that
    makes val's misses count as deployment would meet them. A value with no miss on val weighs
    0 (nothing says the slice fails there); a condition with no miss at all is left out, so its
    images keep the value the analyst blamed."""
    weights: dict[str, dict[str, dict[str, float]]] = {}
    for failure, per_condition in counts.items():
        weights[failure] = {}
        for name, ratios in prevalence.items():
            values = {v: per_condition[name][v][0] * ratio for v, ratio in ratios.items()}
            if sum(values.values()) > 0:
                weights[failure][name] = values
    return weights
