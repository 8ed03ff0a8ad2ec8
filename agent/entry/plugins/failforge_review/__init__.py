"""failforge in the FiftyOne App: a review panel, and the "Approve batch" / "Reject batch" operators.

The one module outside storage/ that imports fiftyone: it is the App's side of the review. What
the panel shows comes from `agent.control.queries.review_summary`; decisions go through the same
function as the CLI and the API (`agent.entry.review`).
"""

from __future__ import annotations

import json
from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types

# How often the open panel reads the loop's state again (milliseconds).
REFRESH_MS = 3000


def _batch_of_view(ctx: Any) -> str | None:
    """The batch the reviewer is looking at, when the view holds exactly one."""
    try:
        batches = ctx.view.distinct("batch_id")
    except Exception:  # not the synthetic dataset, or no view
        return None
    return batches[0] if len(batches) == 1 else None


def _tokens() -> dict[bytes, str]:
    """The workspace's API tokens by their names (none: the App may only listen on loopback)."""
    import os
    from pathlib import Path

    from agent.entry.api.guard import callers
    from agent.settings import Settings

    settings = Settings.load(Path(os.environ.get("FAILFORGE_WORKSPACE", ".")))
    return callers(settings.api_token, settings.api_reviewers)


def reviewer(params: dict[str, Any], tokens: dict[bytes, str]) -> str:
    """Who decides. FiftyOne's open-source App has no login (`ctx.user` is None), so with tokens
    the reviewer types theirs in the form and the decision is recorded under its name; without
    one, `failforge app` listens on loopback only and the person at the machine names themselves.
    Raises PermissionError for a missing or wrong token."""
    from agent.entry.api.guard import name_of

    if not tokens:
        return str(params.get("by") or "fiftyone-app")
    name = name_of(str(params.get("token") or "").strip().encode(), tokens)
    if name is None:
        raise PermissionError(
            "Missing or wrong token: this workspace has API tokens, so a decision in the App "
            "needs the reviewer's token; nothing was recorded."
        )
    return name


class _Decide(foo.Operator):
    """Decides a batch; the loop then trains on it or not, so both declare a high risk level."""

    approved = True

    def resolve_input(self, ctx: Any) -> Any:
        inputs = types.Object()
        from agent.entry.review import pending_batch

        # The batch on screen, else the one the loop waits for (also on the field dataset).
        default = _batch_of_view(ctx) or pending_batch()
        inputs.str("batch_id", label="Batch", required=True, default=default)
        try:
            guarded = bool(_tokens())
        except Exception:  # no workspace here: execute says so
            guarded = False
        if guarded:
            inputs.str(
                "token", label="Your API token", required=True, description="recorded by its name"
            )
        else:
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
            by = reviewer(params, _tokens())
            return decide_from_app(params["batch_id"], self.approved, by, reason)
        except (BatchDecisionError, PermissionError) as error:
            # Said in the App (a toast), and returned; the recorded decision stays as it was.
            ops = getattr(ctx, "ops", None)
            if ops is not None:
                ops.notify(str(error), variant="error")
            return {"error": str(error)}


class ApproveBatch(_Decide):
    approved = True

    @property
    def config(self) -> Any:
        return foo.OperatorConfig(name="approve_batch", label="Approve batch", risk_level="high")


class RejectBatch(_Decide):
    approved = False

    @property
    def config(self) -> Any:
        return foo.OperatorConfig(name="reject_batch", label="Reject batch", risk_level="high")


class ReviewPanel(foo.Panel):
    """The reviewer's one place: the loop, the batch it waits for and why, and the decision."""

    @property
    def config(self) -> Any:
        return foo.PanelConfig(
            name="failforge_review_panel",
            label="failforge review",
            help_markdown="The batch the loop proposes, the failures it aims at, its scores.",
        )

    def on_load(self, ctx: Any) -> None:
        from agent.entry.review import summary_for_app

        ctx.panel.state.summary = summary_for_app()

    def refresh(self, ctx: Any) -> None:
        from agent.entry.review import summary_for_app

        # Sent to the App only when the loop moved: each update redraws the panel, and a
        # redraw every few seconds would pull a button or an open form from under the reviewer.
        summary = json.loads(json.dumps(summary_for_app(), default=str))
        if summary != ctx.panel.state.summary:
            ctx.panel.state.summary = summary

    def show_batch(self, ctx: Any) -> None:
        """The batch's proposed images: its saved view on the synthetic dataset."""
        summary = ctx.panel.state.summary or {}
        batch = summary.get("batch") or {}
        if batch:
            ctx.ops.open_dataset(summary["synthetic_dataset"])
            ctx.ops.set_view(name=batch["synthetic_view"])

    def show_samples(self, ctx: Any) -> None:
        """The field samples behind a hypothesis or a slice (its evidence, its misses)."""
        import fiftyone as fo

        summary = ctx.panel.state.summary or {}
        ids = list(ctx.params.get("ids") or [])
        if ids and summary.get("field_dataset"):
            ctx.ops.open_dataset(summary["field_dataset"])
            ctx.ops.set_view(view=fo.load_dataset(summary["field_dataset"]).select(ids))

    def render(self, ctx: Any) -> Any:
        from agent.entry.review import review_markdown, strip_images

        summary = ctx.panel.state.summary or {}
        panel = types.Object()
        # Its own name: a panel shows state values under a property's name (`summary` is data).
        panel.md(review_markdown(summary), name="review")
        # The checks' before/after strips: an image view shows a data URI, markdown does not.
        for k, (label, uri) in enumerate(strip_images(summary)):
            panel.str(f"strip_{k}", label=label, default=uri, view=types.ImageView(alt=label))
        panel.btn("refresh", label="Refresh", on_click=self.refresh)
        # The panel follows the loop by itself (a step, a decision from the CLI, a cycle's end);
        # the App's timer calls `refresh` in the App's server, which only reads the registry.
        panel.view(
            "follow_the_loop", types.TimerView(interval=REFRESH_MS, on_interval=self.refresh)
        )
        batch = summary.get("batch")
        if batch:
            panel.btn("show_batch", label="Show the batch's images", on_click=self.show_batch)
            # Field samples behind each hypothesis (its evidence) and each slice (its misses).
            shown = [
                (f"evidence_{k}", f"Show the evidence for {h['slice']}", h["evidence_ids"])
                for k, h in enumerate(batch["hypotheses"])
            ] + [
                (f"misses_{k}", f"Show misses in {f['slice']}", f["example_ids"])
                for k, f in enumerate(batch["slices"])
            ]
            for name, label, ids in shown:
                panel.btn(name, label=label, on_click=self.show_samples, params={"ids": ids})
            for decision in ("approve", "reject"):
                panel.btn(
                    decision,
                    label=f"{decision.capitalize()} batch",
                    on_click=f"@failforge/review/{decision}_batch",
                    prompt=True,
                    params={"batch_id": batch["batch_id"]},
                )
        return types.Property(panel, view=types.GridView(orientation="vertical"))


def register(plugin: Any) -> None:
    plugin.register(ApproveBatch)
    plugin.register(RejectBatch)
    plugin.register(ReviewPanel)
