"""The API's read models: what each GET answers, declared so the OpenAPI schema states it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agent.state import ApprovalRequest
from evaluation.counterfactual import VerdictLine
from evaluation.metrics import DetectionMetrics


class LoopSummary(BaseModel):
    """The current loop as `/status` shows it: running here, finished, or waiting for a decision."""

    loop_id: str
    running: bool
    finished: bool
    stop_reason: str | None
    waiting: ApprovalRequest | None
    cycle: int | None
    error: str | None


class StatusRead(BaseModel):
    """The incumbent on a split (`queries.status_payload`) and the current loop."""

    incumbent: dict[str, Any] | None
    split: str
    metrics: dict[str, Any] | None
    slices: dict[str, Any]
    classes: dict[str, Any]
    found_slices: dict[str, Any]
    hypothesis_checks: list[VerdictLine] = Field(
        default_factory=list, description="the newest counterfactual verdicts with their figures"
    )
    loop: LoopSummary | None


class ModelRead(BaseModel):
    """A model version with its parent, status and overall metrics on val."""

    name: str
    parent: str | None
    status: str
    cycle: int | None
    reason: str
    created_at: str
    val: DetectionMetrics | None


class BatchRead(BaseModel):
    """A batch with its cycle, status, image count, scores and decision."""

    id: str
    loop_id: str
    cycle: int
    status: str
    images: int
    scores: dict[str, Any]
    decided_by: str | None
    reason: str


class EventRead(BaseModel):
    """One entry of the append-only event log."""

    id: int
    at: str
    loop_id: str
    cycle: int
    step: str
    kind: str
    payload: dict[str, Any]
