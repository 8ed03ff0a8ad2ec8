"""Read models shared by the CLI and the HTTP API: status and batch rows, built from the registry."""

from __future__ import annotations

from typing import Any

from agent.control.runner import current_loop_id, loop_status
from agent.deps import Deps


def status_payload(deps: Deps, split: str) -> dict[str, Any]:
    incumbent = deps.registry.incumbent()
    if incumbent is None:
        return {"incumbent": None, "split": split, "metrics": None, "slices": {}}
    evaluation = incumbent.metrics.get(split, {})
    return {
        "incumbent": {
            "name": incumbent.name,
            "parent": incumbent.parent,
            "path": incumbent.path,
            "cycle": incumbent.cycle,
            "created_at": incumbent.created_at.isoformat(),
        },
        "split": split,
        "metrics": evaluation.get("overall"),
        "slices": evaluation.get("slices", {}),
    }


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


def waiting_batch_id(deps: Deps) -> str | None:
    """The batch the current loop waits for a decision on, if it waits for one."""
    loop_id = current_loop_id(deps)
    waiting = loop_status(deps, loop_id).waiting if loop_id else None
    return str(waiting["batch_id"]) if waiting else None
