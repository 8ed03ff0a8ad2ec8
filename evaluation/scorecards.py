"""What the gate compares per model: its recall on each slice of the val objects, and which
slices it guards (every single-attribute bin, and the ones the user names)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from evaluation.gate import ModelScorecard
from evaluation.slices import ObjectTable, assign_bins, slice_mask


def slice_recalls(
    table: ObjectTable, edges: dict[str, list[float]], slices: dict[str, dict[str, str]]
) -> dict[str, float]:
    """Recall of each slice that has objects in `table` (a slice without any is left out)."""
    bins = assign_bins(table, edges)
    recalls = {}
    for name, conditions in slices.items():
        mask = slice_mask(bins, conditions)
        if mask.any():
            recalls[name] = float(table.found[mask].mean())
    return recalls


def single_slices(table: ObjectTable, edges: dict[str, list[float]]) -> dict[str, dict[str, str]]:
    """Every single-attribute bin (and class): the slices the gate guards against regressions."""
    bins = assign_bins(table, edges)
    return {f"{a}={v}": {a: str(v)} for a in bins for v in np.unique(bins[a])}


def named_slices(table: ObjectTable, names: Mapping[str, float]) -> dict[str, dict[str, str]]:
    """The slices the user guards by name (`attribute=bin & ...`) that val can measure: their
    attributes exist here (a class is measured even when val has none of it: then the gate
    says it has no objects)."""
    known = {*table.values, "class"}
    out = {}
    for name in names:
        conditions = dict(part.split("=", 1) for part in name.split(" & "))
        if set(conditions) <= known:
            out[name] = conditions
    return out


def measure_scorecard(
    map50: float,
    table: ObjectTable,
    edges: dict[str, list[float]],
    slices: dict[str, dict[str, str]],
) -> ModelScorecard:
    """A model's scorecard: its val mAP50, and its recall and found objects per slice of `table`."""
    bins = assign_bins(table, edges)
    found = {}
    for name, conditions in slices.items():
        mask = slice_mask(bins, conditions)
        if mask.any():
            found[name] = table.found[mask].tolist()
    return ModelScorecard(
        map50=map50, slice_recall=slice_recalls(table, edges, slices), slice_found=found
    )
