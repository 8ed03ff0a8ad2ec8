"""Retraining on approved data and gating the candidate against the incumbent on val."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from agent.deps import Deps
from agent.state import LoopState
from agent.steps.failures import (
    ensure_val_predictions,
    single_slices,
    slice_recalls,
    val_object_table,
    weights_of,
)
from agent.steps.predictions import export_items, predict_and_evaluate
from agent.steps.results import Training
from evaluation.gate import GateResult, ModelScorecard, evidence_gate, gate
from evaluation.metrics import EvaluationResult
from evaluation.slices import ObjectTable, assign_bins, slice_mask
from storage.export import export_yolo

T = TypeVar("T")


# -- retrain and gate ----------------------------------------------------------------------------
def synthetic_share(deps: Deps, cycle: int) -> float:
    loop = deps.settings.loop
    return min(
        loop.synthetic_share_cap,
        loop.synthetic_share_start + loop.synthetic_share_step * (cycle - 1),
    )


def finetune_epochs(deps: Deps, train_images: int) -> int:
    """Epochs of a fine-tune on `train_images`: a fixed budget of image passes when one is set,
    so later cycles, with more approved images, do not train longer than the first."""
    detector = deps.settings.detector
    if detector.finetune_images is None or train_images == 0:
        return detector.finetune_epochs
    return max(1, min(detector.finetune_epochs, round(detector.finetune_images / train_images)))


def synthetic_mix(
    items: Sequence[T], batch_ids: Sequence[str], newest: str | None, repeats: int, limit: int
) -> list[T]:
    """The approved images a fine-tune sees, at most `limit`: the newest batch's first.

    Older batches are kept newest first while room is left (`items` run oldest to newest);
    then the newest batch is repeated up to `repeats` times in all, in the room the cap leaves,
    so it weighs more without pushing the synthetic share past the cap (a last partial copy
    takes the batch's first images).
    """
    fresh = [item for item, batch in zip(items, batch_ids, strict=True) if batch == newest]
    older = [item for item, batch in zip(items, batch_ids, strict=True) if batch != newest]
    if len(fresh) >= limit:
        return fresh[len(fresh) - limit :]
    older = older[max(0, len(older) - (limit - len(fresh))) :]
    room = limit - len(fresh) - len(older)
    extra = [fresh[i % len(fresh)] for i in range(min(room, len(fresh) * (repeats - 1)))]
    return older + fresh + extra


def retrain(deps: Deps, state: LoopState, candidate: str) -> Training:
    """Fine-tune the incumbent on field `train` plus approved synthetic images (share capped)."""
    field_items = export_items(deps, deps.datasets.split("train"))
    approved = deps.datasets.where(deps.datasets.synthetic(), "status", "approved")
    share = synthetic_share(deps, state.cycle)
    approved_items = export_items(deps, approved)
    synthetic_items = synthetic_mix(
        approved_items,
        # No synthetic image yet (the `none` arm): FiftyOne has no `batch_id` field to read.
        deps.datasets.values(approved, "batch_id") if approved_items else [],
        state.batch.batch_id if state.batch is not None else None,
        deps.settings.loop.newest_batch_repeats,
        int(share / (1 - share) * len(field_items)),
    )
    data_yaml = export_yolo(
        deps.workspace.cycle_dir(state.cycle) / "data",
        deps.settings.classes,
        {
            "train": field_items + synthetic_items,
            "val": export_items(deps, deps.datasets.split("val")),
        },
    )
    result = deps.detector.train(
        data_yaml,
        deps.workspace.model_dir(candidate) / "train",
        weights_of(deps, state.incumbent),
        finetune_epochs(deps, len(field_items) + len(synthetic_items)),
        on_epoch=lambda done, total: deps.progress(f"train {candidate} (epochs)", done, total),
    )
    weights = deps.workspace.model_dir(candidate) / "weights.pt"
    shutil.copy2(result.weights, weights)
    deps.registry.add_model(candidate, weights, state.incumbent, "candidate", {}, state.cycle)
    return Training(
        candidate=candidate,
        weights=str(weights),
        seconds=result.seconds,
        field=len(field_items),
        synthetic=len(synthetic_items),
        share=share,
        epochs=result.epochs,
    )


def scorecard(
    deps: Deps,
    model: str,
    table: ObjectTable,
    edges: dict[str, list[float]],
    slices: dict[str, dict[str, str]],
) -> ModelScorecard:
    """What the gate compares for `model`: its val mAP50 and recall per slice of its `table`."""
    record = deps.registry.model(model)
    assert record is not None
    val = EvaluationResult.recorded(record.metrics, "val")
    # A model never evaluated on val, or with no class to average, scores 0 (as it always has).
    map50 = val.overall.map50 if val is not None and val.overall.map50 is not None else 0.0
    bins = assign_bins(table, edges)
    found = {}
    for name, conditions in slices.items():
        mask = slice_mask(bins, conditions)
        if mask.any():
            found[name] = table.found[mask].tolist()
    return ModelScorecard(
        map50=map50, slice_recall=slice_recalls(table, edges, slices), slice_found=found
    )


def gate_candidate(deps: Deps, state: LoopState, candidate: str) -> GateResult:
    """Evaluate the candidate on val and promote it only if the gate says so (`gate.rule`)."""
    record = deps.registry.model(candidate)
    assert record is not None
    metrics = predict_and_evaluate(deps, candidate, Path(record.path), ("val",), save_views=False)
    deps.registry.set_model_status(candidate, "candidate", metrics=metrics)
    targets = {s.name: s.conditions for s in state.slices}
    incumbent_table = val_object_table(deps, state.incumbent)
    guarded = single_slices(incumbent_table, state.bin_edges)
    settings = deps.settings.gate
    named = named_slices(incumbent_table, settings.guarded_slices)
    slices = {**targets, **guarded, **named}
    incumbent_card = scorecard(deps, state.incumbent, incumbent_table, state.bin_edges, slices)
    candidate_table = val_object_table(deps, candidate)
    candidate_card = scorecard(deps, candidate, candidate_table, state.bin_edges, slices)
    carried = state.carried
    if carried is not None and (carried.incumbent != state.incumbent or carried.name == candidate):
        carried = None  # judged against another model: nothing to compare again
    if settings.rule == "evidence":

        def judge(card: ModelScorecard, again: tuple[str, GateResult] | None) -> GateResult:
            return evidence_gate(
                incumbent_card,
                card,
                list(targets),
                settings.max_map_drop,
                settings.max_slice_drop,
                list(guarded),
                settings.guarded_slices,
                settings.confidence or 0.9,
                again,
            )

        again = None
        if carried is not None:
            ensure_val_predictions(deps, carried.name)
            table = val_object_table(deps, carried.name)
            card = scorecard(deps, carried.name, table, state.bin_edges, slices)
            again = (carried.name, judge(card, None))
        result = judge(candidate_card, again)
    else:
        result = gate(
            incumbent_card,
            candidate_card,
            list(targets),
            settings.min_gain,
            settings.max_map_drop,
            settings.max_slice_drop,
            {k: v for k, v in incumbent_card.slice_recall.items() if k in guarded},
            settings.confidence,
            settings.guarded_slices,
        )
    reasons = "; ".join(result.reasons)
    if result.promote:
        deps.registry.promote(candidate, reasons)
        # The App's `val failures` view follows the incumbent, never a rejected candidate.
        deps.datasets.save_failure_views("val", f"{candidate}_val")
    else:
        deps.registry.set_model_status(
            candidate, "carried" if result.carried else "rejected", reasons
        )
    if carried is not None:
        deps.registry.set_model_status(
            carried.name,
            "rejected",
            f"carried from cycle {carried.cycle}, then {candidate}: {reasons}",
        )
    # The App's Model Evaluation panel shows the gate's verdict on the candidate's evaluation.
    verdict = "promoted" if result.promote else "carried" if result.carried else "not promoted"
    deps.datasets.review_evaluation(f"{candidate}_val", "reviewed", f"Gate: {verdict}; {reasons}")
    return result


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
