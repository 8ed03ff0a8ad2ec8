"""The counterfactual step: each hypothesis of a cycle tested on its slice's val misses before planning.

Run once per (loop, cycle): the result is written to the cycle's folder and read back when the
step runs again (a resumed node restarts from its top), so a kill after it finished costs no
second round of edits and predictions. Each checked factor's before/after strip is written
beside its edited images before the result, and named on it relative to the workspace folder.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agent.steps.counterfactual_check import Factor, SliceObject, check_factor
from agent.steps.failures import val_object_table, weights_of
from evaluation.counterfactual import CounterfactualResult, FactorCheck, HypothesisCheck, unchecked
from evaluation.slices import ObjectTable, assign_bins, slice_mask
from tools.analyst.base import Hypothesis
from tools.convert import class_ids
from tools.files import write_text_whole
from tools.generator.counterfactual_edits import EDITABLE, PLACEBOS, SCENE_FACTORS, SIZE_FACTOR

if TYPE_CHECKING:
    from agent.ports import Deps
    from agent.state import LoopState

# At most this many misses and detected controls per factor, spread evenly over the slice:
# enough for an interval that can exclude a 20% effect (0 of 20 has a Wilson upper bound of
# 16%), few enough that the check stays a small share of a cycle on a CPU.
MAX_MISSES = 40
MAX_CONTROLS = 20
LOW_BINS = ("lowest", "low")
HIGH_BINS = ("high", "highest")


def blamed_factors(hypothesis: Hypothesis) -> list[tuple[str, str, str]]:
    """(attribute, direction, how the hypothesis put it) for each factor it blames: measured
    attributes as they are, the demo world's scene conditions as the attribute each moves."""
    factors = []
    for attribute, bin_name in hypothesis.attributes.items():
        direction = "low" if bin_name in LOW_BINS else "high" if bin_name in HIGH_BINS else ""
        factors.append((attribute, direction, f"{attribute}={bin_name}"))
    for condition, value in hypothesis.conditions.given().items():
        attribute, direction = SCENE_FACTORS.get((condition, value), (condition, ""))
        factors.append((attribute, direction, f"{condition}={value}"))
    return factors


def factor_to_remove(
    slice_name: str,
    attribute: str,
    direction: str,
    blamed: str,
    edges: dict[str, list[float]],
    all_blamed: Collection[str] = (),
) -> Factor | FactorCheck:
    """The factor with the range it is moved into (the middle bins of the val objects, where
    the detector sees most of its objects) and its placebo (the first of `PLACEBOS` the
    hypothesis does not blame anywhere in `all_blamed`), or why it cannot be checked."""
    if attribute not in EDITABLE:
        why = f"no edit removes {attribute} and keeps every box exact"
        return unchecked(slice_name, attribute, blamed, why)
    if not direction:
        return unchecked(slice_name, attribute, blamed, f"{blamed} names no extreme to remove")
    if attribute == SIZE_FACTOR and direction == "high":
        why = "shrinking large objects needs the frame repainted around them: not checked here"
        return unchecked(slice_name, attribute, blamed, why)
    if attribute not in edges:
        return unchecked(slice_name, attribute, blamed, f"discovery measured no {attribute}")
    shams = [p for p in PLACEBOS if p not in {attribute, *all_blamed} and p in edges]
    if not shams:
        why = "every attribute a placebo could move is blamed too"
        return unchecked(slice_name, attribute, blamed, why)
    quantiles = edges[attribute]
    target = (quantiles[1], quantiles[2])
    return Factor(attribute=attribute, blamed=blamed, target=target, placebo=shams[0])


def slice_objects(
    table: ObjectTable, mask: np.ndarray, paths: dict[str, Path]
) -> tuple[list[SliceObject], list[SliceObject]]:
    """The slice's missed and detected objects, each with its box's index in its image (the
    table lists an image's objects together, in its truth's order)."""
    seen: dict[str, int] = {}
    misses: list[SliceObject] = []
    controls: list[SliceObject] = []
    for row, sample_id in enumerate(table.sample_ids):
        index = seen.get(sample_id, 0)
        seen[sample_id] = index + 1
        if mask[row]:
            found = bool(table.found[row])
            item = SliceObject(sample_id, paths[sample_id], index, found)
            (controls if found else misses).append(item)
    return _spread(misses, MAX_MISSES), _spread(controls, MAX_CONTROLS)


def _spread(items: list[SliceObject], most: int) -> list[SliceObject]:
    """At most `most` items, evenly spaced (deterministic: a rerun checks the same objects)."""
    if len(items) <= most:
        return items
    picks = np.linspace(0, len(items) - 1, most).round().astype(int)
    return [items[k] for k in picks]


@dataclass(frozen=True)
class ValObjects:
    """The incumbent's val objects as discovery binned them, with each image's path and truth."""

    table: ObjectTable
    bins: dict[str, np.ndarray]
    paths: dict[str, Path]
    boxes: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


def val_objects(deps: Deps, state: LoopState) -> ValObjects:
    table = val_object_table(deps, state.incumbent)
    view = deps.datasets.split("val")
    samples = deps.datasets.samples(view)
    truths = deps.datasets.labels(view)
    return ValObjects(
        table=table,
        bins=assign_bins(table, state.bin_edges),
        paths={s.id: s.path for s in samples},
        boxes={s.id: t.xyxy for s, t in zip(samples, truths, strict=True)},
        labels={s.id: class_ids(t) for s, t in zip(samples, truths, strict=True)},
    )


def check_hypothesis(
    deps: Deps, state: LoopState, hypothesis: Hypothesis, objects: ValObjects, out_dir: Path
) -> HypothesisCheck:
    """Each factor `hypothesis` blames, removed from its slice's misses (or why it was not)."""
    name = hypothesis.slice_name
    failure = next((f for f in state.slices if f.name == name), None)
    check = HypothesisCheck(slice_name=name)
    factors = blamed_factors(hypothesis)
    if not factors:
        why = "the hypothesis blames no attribute or condition an edit could remove"
        check.factors.append(unchecked(name, "", "", why))
    all_blamed = [attribute for attribute, _, _ in factors]
    for attribute, direction, blamed in factors:
        factor = factor_to_remove(name, attribute, direction, blamed, state.bin_edges, all_blamed)
        if isinstance(factor, FactorCheck):
            check.factors.append(factor)
            continue
        if failure is None:
            why = "the slice is not among this cycle's discovered slices"
            check.factors.append(unchecked(name, attribute, blamed, why))
            continue
        mask = slice_mask(objects.bins, failure.conditions)
        misses, controls = slice_objects(objects.table, mask, objects.paths)
        checked = check_factor(
            deps.detector,
            weights_of(deps, state.incumbent),
            name,
            factor,
            misses + controls,
            objects.boxes,
            objects.labels,
            out_dir / attribute,
            objects.table.values,
            deps.settings.evaluation.conf_threshold,
        )
        check.factors.append(in_workspace(checked, deps.workspace.root))
    return check


def in_workspace(check: FactorCheck, root: Path) -> FactorCheck:
    """The check with its strip named relative to the workspace folder, so that a copied or
    moved workspace still finds it (readers join it to their workspace's root)."""
    if check.strip is None:
        return check
    return check.model_copy(update={"strip": Path(check.strip).relative_to(root).as_posix()})


def result_path(deps: Deps, state: LoopState) -> Path:
    return deps.workspace.cycle_dir(state.cycle) / "counterfactual" / state.loop_id / "result.json"


def newest_result_path(deps: Deps) -> Path | None:
    """The check result written last in the workspace, whatever its cycle or loop (the layout
    of `result_path`); None before any check."""
    stored = deps.workspace.root.glob("cycles/*/counterfactual/*/result.json")
    return max(stored, key=lambda path: (path.stat().st_mtime, str(path)), default=None)


def check_hypotheses(deps: Deps, state: LoopState) -> CounterfactualResult:
    """Every hypothesis of the cycle's analysis checked on the incumbent's val misses (read
    back, not recomputed, when this (loop, cycle) already has its result)."""
    path = result_path(deps, state)
    if path.exists():
        return CounterfactualResult.model_validate_json(path.read_text())
    started = time.perf_counter()
    hypotheses = state.analysis.hypotheses if state.analysis else []
    objects = val_objects(deps, state) if hypotheses else None
    checks = [
        check_hypothesis(deps, state, hypothesis, objects, path.parent / f"{number:02d}")
        for number, hypothesis in enumerate(hypotheses)
        if objects is not None
    ]
    result = CounterfactualResult(
        loop_id=state.loop_id,
        cycle=state.cycle,
        incumbent=state.incumbent,
        checks=checks,
        seconds=time.perf_counter() - started,
    )
    # A kill mid-write leaves no half result to read back.
    write_text_whole(path, result.model_dump_json(indent=1))
    return result
