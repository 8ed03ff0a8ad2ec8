"""The loop's work behind each step (queries, model calls, files), so that graph nodes stay thin.

Nodes reach the side-effecting ones through `deps.work` (`agent.steps.work.StepWork`), where
tests hand in a recording fake; the pure helpers (batch ids, the approval payload) directly.
"""

from agent.steps.batches import (
    apply_decision,
    approval_payload,
    batch_id_for,
    generate,
    label,
    label_qa,
    plan,
    score,
)
from agent.steps.failures import (
    analyze,
    discover,
    embed_cached,
    ensure_val_predictions,
    evidence_images,
    pred_field,
    val_object_table,
    weights_of,
)
from agent.steps.training import gate_against_incumbent, retrain, scorecard, synthetic_share

__all__ = [
    "analyze",
    "apply_decision",
    "approval_payload",
    "batch_id_for",
    "discover",
    "embed_cached",
    "ensure_val_predictions",
    "evidence_images",
    "gate_against_incumbent",
    "generate",
    "label",
    "label_qa",
    "plan",
    "pred_field",
    "retrain",
    "score",
    "scorecard",
    "synthetic_share",
    "val_object_table",
    "weights_of",
]
