"""The FailureAnalyst protocol and the FailureAnalysis schema every analyst fills."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

from tools.vocabulary import CONDITIONS, Crowding, Distance, Lighting, Weather

# The scene vocabulary the generator understands; analysts express hypotheses in it.
SCENE_VOCABULARY: dict[str, tuple[str, ...]] = CONDITIONS
# What a workspace without a world (a user's own photographs) speaks instead: the attributes
# discovery measures from pixels and boxes, each in quantile bins of the val objects.
MEASURED_ATTRIBUTES: tuple[str, ...] = (
    "brightness",
    "contrast",
    "haze",
    "streaks",
    "specks",
    "sharpness",
    "box_size",
    "overlap",
)
ATTRIBUTE_BINS: tuple[str, ...] = ("lowest", "low", "mid", "high", "highest")
Vocabulary = Literal["scene", "attributes"]


class SceneConditions(BaseModel):
    """Conditions a hypothesis blames; None means 'not implicated'."""

    lighting: Lighting | None = None
    weather: Weather | None = None
    distance: Distance | None = None
    crowding: Crowding | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Hypothesis(BaseModel):
    """Why one slice fails, in the scene vocabulary plus free text."""

    slice_name: str
    what_fails: str = Field(description="e.g. 'small people are missed'")
    why: str = Field(description="the suspected cause")
    conditions: SceneConditions = Field(default_factory=SceneConditions)
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="measured attributes blamed, attribute -> bin (e.g. box_size: lowest); "
        "what a workspace without a world aims its images by",
    )
    classes: list[str] = Field(default_factory=list, description="affected classes")
    evidence_ids: list[str] = Field(default_factory=list, description="sample ids shown")
    confidence: float = Field(ge=0, le=1)
    suggested_prompts: list[str] = Field(default_factory=list)
    regions: list[dict[str, object]] = Field(
        default_factory=list, description="boxes the analyst points at, original-image pixels"
    )
    fallback: str | None = Field(
        None, description="the model's error when the offline analyst answered for this slice"
    )


class FailureAnalysis(BaseModel):
    """An analyst's answer for one cycle: a hypothesis per failure slice."""

    analyst: str
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    evidence: list[SliceEvidence] = Field(
        default_factory=list,
        description="what the analyst was shown, slice by slice: kept with its answer, so the "
        "tuning set (`failforge export-analyses`) holds the prompts it answered",
    )


class SliceEvidence(BaseModel):
    """What an analyst is shown about one slice: its statistics and example images."""

    slice_name: str
    conditions: dict[str, str]
    support: int
    recall: float
    deficit: float
    stats: dict[str, float]
    overall_stats: dict[str, float] = Field(default_factory=dict)
    example_ids: list[str] = Field(default_factory=list)
    example_paths: list[str] = Field(default_factory=list)
    vocabulary: Vocabulary = Field(
        "scene",
        description="scene: the demo world's conditions; attributes: a user's own photographs, "
        "explained in measured attributes and the user's classes only",
    )
    earlier_check: str | None = Field(
        None,
        description="the last earlier cycle's counterfactual verdict on this slice's hypothesis, "
        "e.g. 'cycle 2: not supported' (None: never checked)",
    )


class FailureAnalyst(Protocol):
    """Explains failure slices; must never raise for a model's misbehaviour (fall back instead)."""

    def analyze(self, slices: list[SliceEvidence], classes: list[str]) -> FailureAnalysis: ...
