"""What each side-effecting step returns: typed results, stored once and replayed as the same type."""

from __future__ import annotations

from pydantic import BaseModel, Field

from evaluation.blind_spots import BlindSpot
from evaluation.quality import QualityScores
from evaluation.slices import FailureSlice


class Discovery(BaseModel):
    """The incumbent's failure slices on val and the attribute bin edges that define them."""

    slices: list[FailureSlice]
    edges: dict[str, list[float]]
    blind_spots: list[BlindSpot] = Field(
        default_factory=list,
        description="image conditions common in the deployment images and rare on val",
    )


class Generation(BaseModel):
    """A rendered batch: its manifest file and how many images were made or failed."""

    manifest: str
    generated: int
    failed: int = 0


class Labelling(BaseModel):
    """A labelled batch added to the synthetic dataset as 'proposed'."""

    labelled: int
    dropped_boxes: int = 0
    unlabelled: int = 0
    label_errors: dict[str, int] = Field(
        default_factory=dict, description="images the labeller could not label, by its reason"
    )
    label_flagged: int = Field(0, description="auto-labels flagged for review by label QA")
    carried_dropped: int = 0


class Scoring(BaseModel):
    """The batch's quality scores, per-group scores, what the filters kept and dropped."""

    scores: QualityScores
    groups: dict[str, QualityScores] = Field(default_factory=dict)
    kept: int
    dropped: dict[str, int] = Field(default_factory=dict)
    over: dict[str, float] = Field(default_factory=dict, description="scores over threshold")
    as_asked: float | None = Field(None, description="share of images made as their request asked")
    unmet: dict[str, int] = Field(
        default_factory=dict, description="images per condition (or 'prompt') not made as asked"
    )
    unscored: str | None = Field(
        None, description="why the batch was not scored (no images, or too few to judge)"
    )


class CandidateName(BaseModel):
    """The name a cycle's candidate model gets, fixed before training starts."""

    candidate: str


class Training(BaseModel):
    """A fine-tuned candidate: where its weights are and what it was trained on."""

    candidate: str
    weights: str
    seconds: float
    field: int
    synthetic: int
    share: float
    epochs: int | None = None
