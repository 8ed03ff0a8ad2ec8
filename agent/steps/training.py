"""Retraining on approved data and gating the candidate against the incumbent on val."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent.ports import Deps, Progress
from agent.results import Training
from agent.state import CarriedCandidate, LoopState
from agent.steps.condition_reads import deployment_weighting
from agent.steps.failures import ensure_val_predictions, val_object_table, weights_of
from agent.steps.judging import CandidateJudge
from agent.steps.predictions import export_items, predict_and_evaluate
from evaluation.deployment_objective import DeploymentWeighting
from evaluation.gate import GateResult, ModelScorecard
from evaluation.metrics import EvaluationResult
from evaluation.scorecards import measure_scorecard, named_slices, single_slices
from evaluation.slices import ObjectTable
from storage.export import ExportItem, export_yolo
from tools.detector.base import TrainResult

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


@dataclass(frozen=True)
class TrainedModel:
    """A trained and registered model: its weights, the trainer's result, what it measured."""

    weights: Path
    result: TrainResult
    metrics: dict[str, Any]


def train_model(
    deps: Deps,
    name: str,
    train_items: list[ExportItem],
    *,
    cycle: int,
    parent: str | None,
    epochs: int,
    status: str,
    progress: Progress,
    evaluate_on: tuple[str, ...] = (),
) -> TrainedModel:
    """The one training pipeline, of the baseline and of every fine-tune: export the cycle's data
    (`train_items`, field `val`), train from `parent`'s weights (None: the configured model),
    copy the weights into the model's folder, evaluate them on `evaluate_on`, register them."""
    data_yaml = export_yolo(
        deps.workspace.cycle_dir(cycle) / "data",
        deps.settings.classes,
        {"train": train_items, "val": export_items(deps, deps.datasets.split("val"))},
    )
    result = deps.detector.train(
        data_yaml,
        deps.workspace.model_dir(name) / "train",
        None if parent is None else weights_of(deps, parent),
        epochs,
        on_epoch=lambda done, total: progress(f"train {name} (epochs)", done, total),
    )
    weights = deps.workspace.model_dir(name) / "weights.pt"
    shutil.copy2(result.weights, weights)
    metrics: dict[str, Any] = {}
    if evaluate_on:
        metrics = predict_and_evaluate(deps, name, weights, evaluate_on, progress)
        metrics["train_seconds"] = result.seconds
    deps.registry.add_model(name, weights, parent, status, metrics, cycle)
    return TrainedModel(weights, result, metrics)


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
    trained = train_model(
        deps,
        candidate,
        field_items + synthetic_items,
        cycle=state.cycle,
        parent=state.incumbent,
        epochs=finetune_epochs(deps, len(field_items) + len(synthetic_items)),
        status="candidate",
        progress=deps.progress,
    )
    return Training(
        candidate=candidate,
        weights=str(trained.weights),
        seconds=trained.result.seconds,
        field=len(field_items),
        synthetic=len(synthetic_items),
        share=share,
        epochs=trained.result.epochs,
    )


def scorecard(
    deps: Deps,
    model: str,
    table: ObjectTable,
    edges: dict[str, list[float]],
    slices: dict[str, dict[str, str]],
    weighting: DeploymentWeighting | None = None,
) -> ModelScorecard:
    """What the gate compares for `model`: its val mAP50 and recall per slice of its `table`,
    and with `weighting` its val recall weighted to the deployment (`gate.objective`)."""
    record = deps.registry.model(model)
    assert record is not None
    val = EvaluationResult.recorded(record.metrics, "val")
    # A model never evaluated on val, or with no class to average, scores 0 (as it always has).
    map50 = val.overall.map50 if val is not None and val.overall.map50 is not None else 0.0
    card = measure_scorecard(map50, table, edges, slices)
    return card if weighting is None else weighting.weigh(card, table)


def gate_against_incumbent(deps: Deps, state: LoopState, candidate: str) -> GateResult:
    """Evaluate the candidate on val and promote it only if the gate says so (`gate.rule`,
    on `gate.objective`)."""
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
    weighting = (
        deployment_weighting(deps, state.incumbent) if settings.objective == "deployment" else None
    )
    read = (state.bin_edges, slices, weighting)
    incumbent_card = scorecard(deps, state.incumbent, incumbent_table, *read)
    candidate_table = val_object_table(deps, candidate)
    candidate_card = scorecard(deps, candidate, candidate_table, *read)
    carried = state.carried
    if carried is not None and (carried.incumbent != state.incumbent or carried.name == candidate):
        carried = None  # judged against another model: nothing to compare again
    judge = CandidateJudge(
        settings,
        deps.settings.loop.min_support,
        incumbent_card,
        list(targets),
        list(guarded),
        weighting.used() if weighting is not None else {},
    )
    again = None
    if settings.rule == "evidence" and carried is not None:
        ensure_val_predictions(deps, carried.name)
        table = val_object_table(deps, carried.name)
        card = scorecard(deps, carried.name, table, *read)
        again = (carried.name, judge(card))
    result = judge(candidate_card, again)
    _record_verdict(deps, candidate, carried, result)
    return result


def _record_verdict(
    deps: Deps, candidate: str, carried: CarriedCandidate | None, result: GateResult
) -> None:
    """The gate's verdict where people read it: the models' status in the registry (a carried
    candidate judged again is done with), the App's failure views and evaluation panel."""
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
