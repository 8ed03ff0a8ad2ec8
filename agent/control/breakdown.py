"""A model's recall per class and on the failure slices discovery found, on a split, for any workspace.

The evaluation stored per split has the demo world's condition slices (world truth, on test)
and nothing else: a workspace of imported photographs had one row, "overall". These rows come
from the ground truth and the model's stored predictions alone, so both kinds of workspace get
them: one per class (recall; AP50 from the stored evaluation) and one per slice the loop
discovered on val (the same attribute bins, measured on the split asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.control.runner import LoopDriver
from agent.ports import Deps
from agent.results import Discovery
from agent.steps.failures import val_object_table
from evaluation.metrics import DetectionMetrics, EvaluationResult
from evaluation.slices import (
    OBJECT_ATTRIBUTES,
    ObjectTable,
    assign_bins,
    bin_edges,
    discover_slices,
    slice_mask,
)

MAX_CYCLES = 100  # the loop's cycles searched for stored discoveries


@dataclass(frozen=True)
class FoundSlice:
    """A slice discovery found on val: its attribute bins and the val bin edges defining them."""

    name: str
    conditions: dict[str, str]
    edges: dict[str, list[float]]


def has_predictions(deps: Deps, model: str, split: str) -> bool:
    """Whether `model` was evaluated on `split` (its predictions there are stored)."""
    record = deps.registry.model(model)
    return record is not None and split in record.metrics


def class_rows(
    deps: Deps, model: str, split: str, table: ObjectTable
) -> dict[str, DetectionMetrics]:
    """`class=<name>` -> recall (at the evaluation's confidence threshold, IoU 0.5), objects,
    images, and the class's AP50 from the stored evaluation; classes with no object left out."""
    record = deps.registry.model(model)
    assert record is not None
    evaluation = EvaluationResult.recorded(record.metrics, split)
    ap50 = evaluation.overall.ap50_per_class if evaluation else {}
    rows = {}
    for name in deps.settings.classes:
        mask = table.classes == name
        if mask.any():
            rows[f"class={name}"] = _row(table, mask, ap50.get(name))
    return rows


def slice_rows(
    deps: Deps, table: ObjectTable, slices: list[FoundSlice]
) -> dict[str, DetectionMetrics]:
    """Each found slice -> recall, objects and images of `table` inside it (no AP: a slice is a
    set of objects, not of images)."""
    rows = {}
    for found in slices:
        mask = slice_mask(assign_bins(table, found.edges), found.conditions)
        rows[found.name] = _row(table, mask, None)
    return rows


def _row(table: ObjectTable, mask: np.ndarray, ap50: float | None) -> DetectionMetrics:
    objects = int(mask.sum())
    return DetectionMetrics(
        map50=ap50,
        recall=float(table.found[mask].mean()) if objects else None,
        images=len({table.sample_ids[k] for k in np.where(mask)[0]}),
        objects=objects,
    )


def found_slices(deps: Deps, model: str) -> list[FoundSlice]:
    """The slices the current loop discovered on val, every cycle's (first definition of each
    name kept); before any loop, the slices discovery ranks worst for `model` on val now
    (top_slices of at least min_support objects). Class-only slices are left to the class rows."""
    found: dict[str, FoundSlice] = {}
    loop_id = LoopDriver(deps).current_id()
    for cycle in range(1, MAX_CYCLES + 1) if loop_id else ():
        stored = deps.registry.step_result(f"{loop_id}/c{cycle}/r0/discover_failures")
        if stored is None:
            break
        discovery = Discovery.model_validate(stored)
        for s in discovery.slices:
            found.setdefault(s.name, FoundSlice(s.name, s.conditions, discovery.edges))
    if not found and has_predictions(deps, model, "val"):
        table = val_object_table(deps, model, "val")
        edges = bin_edges(table)
        settings = deps.settings.loop
        for s in discover_slices(
            table,
            edges,
            settings.top_slices,
            settings.min_support,
            shrinkage=settings.slice_shrinkage,
            adjust_for=OBJECT_ATTRIBUTES if settings.slice_deficit == "beyond_size" else (),
        ):
            found[s.name] = FoundSlice(s.name, s.conditions, edges)
    return [s for s in found.values() if set(s.conditions) != {"class"}]
