"""The work behind each loop step (queries, model calls, files), so that graph nodes stay thin.

Nodes call these through this package (`ops.discover(...)`), which is also where tests put fakes.
"""

from agent.operations.batches import (
    apply_decision,
    approval_payload,
    batch_id_for,
    edit_sources,
    generate,
    label,
    label_qa,
    plan,
    retrieval_requests,
    score,
)
from agent.operations.failures import (
    analyze,
    discover,
    embed_cached,
    ensure_val_predictions,
    evidence_images,
    pred_field,
    single_slices,
    slice_recalls,
    val_object_table,
    weights_of,
)
from agent.operations.training import gate_candidate, retrain, scorecard, synthetic_share

__all__ = [
    "analyze",
    "apply_decision",
    "approval_payload",
    "batch_id_for",
    "discover",
    "edit_sources",
    "embed_cached",
    "ensure_val_predictions",
    "evidence_images",
    "gate_candidate",
    "generate",
    "label",
    "label_qa",
    "plan",
    "pred_field",
    "retrain",
    "retrieval_requests",
    "score",
    "scorecard",
    "single_slices",
    "slice_recalls",
    "synthetic_share",
    "val_object_table",
    "weights_of",
]
