"""Read models shared by the CLI and the HTTP API: status and batch rows, built from the registry."""

from __future__ import annotations

from typing import Any

from agent.control.breakdown import class_rows, found_slices, has_predictions, slice_rows
from agent.control.runner import LoopDriver
from agent.ports import Deps
from agent.state import CycleRecord, LoopState
from agent.steps.counterfactuals import newest_result_path
from agent.steps.explore_plan import exploration_key
from agent.steps.failures import val_object_table
from evaluation.counterfactual import CounterfactualResult, VerdictLine
from evaluation.metrics import EvaluationResult
from storage.datasets import WorkspaceDatasets


def status_payload(deps: Deps, split: str) -> dict[str, Any]:
    """The incumbent on `split`: overall, per world slice (the demo world's truth, on test), per
    class (`classes`) and on the slices discovery found on val (`found_slices`)."""
    incumbent = deps.registry.incumbent()
    if incumbent is None:
        return {
            "incumbent": None,
            "split": split,
            "metrics": None,
            "slices": {},
            "classes": {},
            "found_slices": {},
            "hypothesis_checks": [],
        }
    evaluation = EvaluationResult.recorded(incumbent.metrics, split)
    classes: dict[str, Any] = {}
    found: dict[str, Any] = {}
    if has_predictions(deps, incumbent.name, split):
        table = val_object_table(deps, incumbent.name, split)
        rows = class_rows(deps, incumbent.name, split, table)
        classes = {name: m.model_dump(mode="json") for name, m in rows.items()}
        slices = found_slices(deps, incumbent.name)
        found = {
            name: m.model_dump(mode="json") for name, m in slice_rows(deps, table, slices).items()
        }
    return {
        "incumbent": {
            "name": incumbent.name,
            "parent": incumbent.parent,
            "path": incumbent.path,
            "cycle": incumbent.cycle,
            "created_at": incumbent.created_at.isoformat(),
        },
        "split": split,
        "metrics": evaluation.overall.model_dump(mode="json") if evaluation else None,
        "slices": {name: m.model_dump(mode="json") for name, m in evaluation.slices.items()}
        if evaluation
        else {},
        "classes": classes,
        "found_slices": found,
        "hypothesis_checks": [line.model_dump(mode="json") for line in latest_checks(deps)],
    }


def latest_checks(deps: Deps) -> list[VerdictLine]:
    """The newest counterfactual verdicts with their figures, as the check wrote them under
    cycles/<n>/counterfactual/<loop>/ (newest written: a workspace may hold several loops);
    none when nothing was checked."""
    path = newest_result_path(deps)
    if path is None:
        return []
    return CounterfactualResult.model_validate_json(path.read_text()).lines()


def batch_rows(deps: Deps) -> list[dict[str, Any]]:
    """Every batch with its cycle, status, image count, scores and decision."""
    return [
        {
            "id": b.id,
            "loop_id": b.loop_id,
            "cycle": b.cycle,
            "status": b.status,
            "images": b.image_count,
            "scores": b.scores,
            "decided_by": b.decided_by,
            "reason": b.reason,
        }
        for b in deps.registry.batches()
    ]


def waiting_batch_id(driver: LoopDriver) -> str | None:
    """The batch the current loop waits for a decision on, if it waits for one."""
    waiting = driver.waiting()
    return waiting.batch_id if waiting else None


# What each quality score says, for a reviewer reading it against its threshold.
SCORE_READINGS = {
    "unrealistic": "how easily a classifier tells these images from real ones",
    "unrepresentative": "how far they sit from the field images (label quality of real vs synthetic)",
    "unvaried": "share of near-copies inside the batch",
    "unoriginal": "share of near-copies of real training images",
}


def _cycle_outcome(record: CycleRecord) -> dict[str, Any]:
    """How a finished cycle ended: what was decided, trained and promoted, and why."""
    return {
        "cycle": record.cycle,
        "batch_id": record.batch_id,
        "approved": record.approved,
        "images": record.images,
        "candidate": record.candidate,
        "promoted": record.promoted,
        "reasons": record.reasons,
    }


def review_summary(driver: LoopDriver) -> dict[str, Any]:
    """Everything a reviewer needs on one screen: the loop, and the batch it waits for with the
    hypotheses behind it, the slices and budgets, the scores against their thresholds."""
    deps = driver.deps
    incumbent = deps.registry.incumbent()
    outcome = driver.current()
    loop_id = outcome.loop_id if outcome else None
    state = outcome.state if outcome else None
    events = [
        {"kind": e.kind, "cycle": e.cycle, "step": e.step, "at": e.at.isoformat()}
        for e in deps.registry.last_events(8)
    ]
    summary: dict[str, Any] = {
        "incumbent": incumbent.name if incumbent else None,
        "loop_id": loop_id,
        "workspace": str(deps.workspace.root.resolve()),  # what the checks' strips are under
        "cycle": state.cycle if state else None,
        "finished": outcome.finished if outcome else None,
        "stop_reason": outcome.stop_reason if outcome else None,
        "waiting_for": outcome.waiting.batch_id if outcome and outcome.waiting else None,
        "field_dataset": deps.datasets.field_name,
        "synthetic_dataset": deps.datasets.synthetic_name,
        "events": events,
        "last_cycle": _cycle_outcome(state.history[-1]) if state and state.history else None,
        "batch": None,
    }
    if state is None or outcome is None or outcome.waiting is None or state.batch is None:
        return summary
    summary["batch"] = _waiting_batch(deps, state)
    return summary


def _waiting_batch(deps: Deps, state: LoopState) -> dict[str, Any]:
    """The batch a loop waits for, as the reviewer sees it: the hypotheses behind it, the slices
    and the images asked for each, the scores against their thresholds."""
    batch = state.batch
    assert batch is not None
    budget: dict[str, int] = {}
    for request in state.requests:
        budget[request.slice_name] = budget.get(request.slice_name, 0) + 1
    thresholds = deps.settings.quality.thresholds()
    scores = batch.scores.model_dump() if batch.scores else {}
    return {
        "batch_id": batch.batch_id,
        "synthetic_view": WorkspaceDatasets.batch_view(batch.batch_id),
        "images": batch.kept,
        "generated": batch.generated,
        "label_flagged": batch.label_flagged,
        "label_errors": batch.label_errors,
        "as_asked": batch.as_asked,
        "not_as_asked": batch.unmet,
        "hypotheses": [
            {
                "slice": h.slice_name,
                "what_fails": h.what_fails,
                "why": h.why,
                "conditions": h.conditions.given(),
                "confidence": h.confidence,
                "evidence_ids": h.evidence_ids,
            }
            for h in (state.analysis.hypotheses if state.analysis else [])
        ],
        "slices": [
            {
                "slice": s.name,
                "val_recall": s.recall,
                "objects": s.support,
                "images_asked": budget.get(s.name, 0),
                "example_ids": s.example_ids,
            }
            for s in state.slices
        ],
        "scores": [
            {
                "score": name,
                "value": scores.get(name),
                "threshold": threshold,
                "over": scores.get(name) is not None and scores[name] > threshold,
                "reading": SCORE_READINGS[name],
            }
            for name, threshold in thresholds.items()
        ],
        "earlier_outcomes": [o.model_dump() for o in state.earlier_outcomes()],
        "hypothesis_checks": [
            line.model_dump(mode="json")
            for line in (state.counterfactuals.lines() if state.counterfactuals else [])
        ],
        # What the batch explores and why (loop.exploration: thompson; None when off).
        "exploration": deps.registry.step_result(exploration_key(state)),
    }
