"""FiftyOne operators "Approve batch" and "Reject batch": thin calls into failforge's decision function.

The one module outside storage/ that imports fiftyone: it is the App's side of the review.
"""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types


def _batch_of_view(ctx: Any) -> str | None:
    """The batch the reviewer is looking at, when the view holds exactly one."""
    try:
        batches = ctx.view.distinct("batch_id")
    except Exception:  # not the synthetic dataset, or no view
        return None
    return batches[0] if len(batches) == 1 else None


class _Decide(foo.Operator):
    approved = True

    def resolve_input(self, ctx: Any) -> Any:
        inputs = types.Object()
        from agent.entry.review import pending_batch

        # The batch on screen, else the one the loop waits for (also on the field dataset).
        default = _batch_of_view(ctx) or pending_batch()
        inputs.str("batch_id", label="Batch", required=True, default=default)
        inputs.str("by", label="Reviewer", default="fiftyone-app")
        if not self.approved:
            inputs.str("reason", label="Why", required=True)
        return types.Property(inputs)

    def execute(self, ctx: Any) -> dict[str, Any]:
        from agent.control.runner import BatchDecisionError
        from agent.entry.review import decide_from_app

        params = ctx.params
        reason = params.get("reason") or "approved in the FiftyOne App"
        try:
            return decide_from_app(
                params["batch_id"], self.approved, params.get("by") or "fiftyone-app", reason
            )
        except BatchDecisionError as error:
            return {"error": str(error)}


class ApproveBatch(_Decide):
    approved = True

    @property
    def config(self) -> Any:
        return foo.OperatorConfig(name="approve_batch", label="Approve batch")


class RejectBatch(_Decide):
    approved = False

    @property
    def config(self) -> Any:
        return foo.OperatorConfig(name="reject_batch", label="Reject batch")


def register(plugin: Any) -> None:
    plugin.register(ApproveBatch)
    plugin.register(RejectBatch)
