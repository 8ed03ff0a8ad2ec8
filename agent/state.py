"""LoopState: what the loop carries from step to step (references and small records only)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from evaluation.counterfactual import CounterfactualResult, VerdictLine
from evaluation.gate import GateResult
from evaluation.quality import QualityScores
from evaluation.slices import FailureSlice
from tools.analyst.base import FailureAnalysis
from tools.generator.base import GenerationRequest


class Decision(BaseModel):
    """A reviewer's (or the policy's) decision on a batch."""

    approved: bool
    by: str = Field(description="'policy', a user name, 'api', 'fiftyone-app'")
    reason: str = ""


class BatchSummary(BaseModel):
    """A scored batch: where it is, how many images survived the filters, its scores."""

    batch_id: str
    manifest: str = Field(description="path of the batch's manifest file")
    generated: int
    labelled: int
    kept: int
    failed: int = 0
    dropped_boxes: int = 0
    label_flagged: int = Field(0, description="auto-labelled images flagged for review by label QA")
    label_errors: dict[str, int] = Field(
        default_factory=dict, description="images the labeller could not label, by its reason"
    )
    scores: QualityScores | None = None
    group_scores: dict[str, QualityScores] = Field(default_factory=dict)
    over_threshold: dict[str, float] = Field(default_factory=dict)
    as_asked: float | None = Field(None, description="share of images made as their request asked")
    unmet: dict[str, int] = Field(default_factory=dict)
    unscored: str | None = Field(None, description="why the batch has no scores to judge it by")


class EarlierOutcome(BaseModel):
    """An earlier cycle's target slice and what its val recall said of the aim."""

    cycle: int
    slice: str
    verdict: str = Field(description="confirmed, refuted or unclear")


class ApprovalRequest(BaseModel):
    """What a loop waiting for a decision shows (the interrupt's payload): the CLI, API, App and
    Studio show it as it is, so its fields and their order are its JSON."""

    batch_id: str
    loop_id: str
    cycle: int
    revision: int
    label_flagged: int
    label_errors: dict[str, int] = Field(description="images the labeller could not label")
    images: int = Field(description="images kept by the filters, proposed for training")
    generated: int
    scores: QualityScores | None
    over_threshold: dict[str, float]
    unscored: str | None
    as_asked: float | None = Field(description="did the images deliver what the plan asked for")
    not_as_asked: dict[str, int] = Field(description="conditions that came out otherwise")
    prompts: list[str]
    target_slices: list[str]
    earlier_outcomes: list[EarlierOutcome] = Field(
        description="each earlier target slice's val recall verdict: what aiming did before"
    )
    fiftyone_view: str
    how_to_decide: str
    hypothesis_checks: list[VerdictLine] = Field(
        default_factory=list,
        description="each hypothesis tested on its slice's val misses before planning: misses "
        "found after removing the blamed factor vs after a placebo, interval, verdict",
    )


class CycleRecord(BaseModel):
    """One finished cycle, for the report and the stop rules."""

    cycle: int
    batch_id: str | None
    approved: bool
    images: int
    candidate: str | None
    promoted: bool
    objective_before: float | None = None
    objective_after: float | None = None
    map50_before: float | None = None
    map50_after: float | None = None
    targets: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    outcomes: dict[str, str] = Field(
        default_factory=dict,
        description="per target slice: confirmed, refuted or unclear by its val recall change",
    )
    checked: dict[str, str] = Field(
        default_factory=dict,
        description="per hypothesis' slice: its counterfactual verdict before planning",
    )


class CarriedCandidate(BaseModel):
    """A candidate the gate found inconclusive (better, not yet beyond noise): judged again
    next cycle against the same incumbent, and promoted with the next candidate if both are
    better (evaluation/gate.evidence_gate)."""

    name: str
    incumbent: str = Field(description="the model it was judged against")
    cycle: int


class LoopState(BaseModel):
    """The state of one loop (one LangGraph thread)."""

    loop_id: str
    max_cycles: int
    budget: int
    auto_approve: bool = False
    cycle: int = 1
    spent: int = 0
    incumbent: str = ""
    slices: list[FailureSlice] = Field(default_factory=list)
    bin_edges: dict[str, list[float]] = Field(default_factory=dict)
    analysis: FailureAnalysis | None = None
    counterfactuals: CounterfactualResult | None = Field(
        None, description="this cycle's hypotheses checked on their misses (None: not checked)"
    )
    requests: list[GenerationRequest] = Field(default_factory=list)
    revision: int = 0
    feedback: list[str] = Field(default_factory=list)
    variation: float = Field(0.0, description="how far requests stray from the blamed conditions")
    realism: float = Field(0.0, description="how much field-camera degradation is rendered")
    batch: BatchSummary | None = None
    decision: Decision | None = None
    candidate: str | None = None
    gate: GateResult | None = None
    carried: CarriedCandidate | None = Field(
        None, description="an inconclusive candidate waiting for the next cycle's verdict"
    )
    history: list[CycleRecord] = Field(default_factory=list)
    cycles_without_promotion: int = 0
    stop_reason: str | None = None

    def earlier_outcomes(self) -> list[EarlierOutcome]:
        """Every finished cycle's target slices with their verdict: what aiming did before."""
        return [
            EarlierOutcome(cycle=record.cycle, slice=name, verdict=verdict)
            for record in self.history
            for name, verdict in record.outcomes.items()
        ]
