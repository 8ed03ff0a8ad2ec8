"""Settings of a loop: how it spends its budget, aims its requests, mixes its data and stops."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, Field, field_validator, model_validator

# The planning strategies, declared once: the benchmark's arms in the order it runs and reports
# them (`none` first: gains are net of it), and the planners built by name in agent/bootstrap.py.
Strategy = Literal["none", "generic", "uniform", "targeted", "retrieval", "oracle"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)


class LoopSettings(BaseModel):
    """How a loop spends its budget and when it stops."""

    cycles: int = Field(3, ge=1, description="cycle limit")
    budget: int = Field(450, ge=1, description="approved synthetic images over the whole loop")
    batch_size: int = Field(150, ge=1, description="images generated per cycle")
    top_slices: int = Field(3, ge=1, description="failure slices a cycle aims at")
    min_support: int = Field(20, ge=1, description="fewest objects a failure slice may have")
    min_slice_share: float = Field(0.15, ge=0, le=1, description="budget floor per slice")
    check_hypotheses: bool = Field(
        True,
        description="test each hypothesis on its slice's val misses (blamed factor edited out "
        "vs a placebo) before planning; an unsupported one keeps only the floor, its blame freed",
    )
    slice_shrinkage: float | None = Field(
        None,
        gt=0,
        description="rank failure slices by recall deficit shrunk with this many pseudo-objects "
        "at the overall recall (small, reliable deficits can win) instead of deficit x support",
    )
    slice_deficit: Literal["overall", "beyond_size"] = Field(
        "overall",
        description="what a slice's recall deficit is measured against: the overall recall, or "
        "the recall its objects' box size and overlap predict (failures that size and occlusion "
        "explain rank low: more images at the same resolution rarely fix them)",
    )
    deploy_images: Path | None = Field(
        None,
        description="a folder of unlabelled images from where the detector is deployed (absolute, "
        "or relative to the workspace): their image attributes, never labels, weight failure "
        "slices by how much more common their conditions are there than in the field data",
    )
    explore_slices: int = Field(
        1,
        ge=0,
        description="failure slices named after the top_slices by uncertainty: the highest "
        "optimistic deficit (an upper quantile of the miss rate's Beta posterior minus the "
        "expected miss rate), so a failure val barely holds is aimed at and tested",
    )
    explore_support: int = Field(
        8, ge=1, description="fewest val objects a slice named by uncertainty may have"
    )
    slice_optimism: float = Field(
        0.9,
        gt=0.5,
        lt=1,
        description="the quantile of a slice's miss-rate posterior its optimistic deficit reads",
    )
    explore_share_min: float = Field(
        0.05, ge=0, le=1, description="least share of a batch exploration gets"
    )
    explore_share_max: float = Field(
        0.4,
        ge=0,
        le=1,
        description="most share of a batch exploration gets (agent.steps.exploration: the share "
        "is the chance a Thompson draw of the unexplored conditions beats the aimed slices')",
    )
    exploration: Literal["off", "thompson"] = Field(
        "off",
        description="thompson: the targeted plan gives a share of each batch (Thompson sampling, "
        "bounded by explore_share_min/max) to conditions no hypothesis blames, one drawn "
        "condition value per image, weighted by deployment prevalence when deploy_images is set; "
        "off (default, until measured on drawn worlds): every plan is as without it",
    )
    edit_share: float = Field(
        0.3, ge=0, le=1, description="share of requests that edit real images"
    )
    max_revisions: int = Field(
        2, ge=0, description="times a batch whose scores are too poor goes back to planning"
    )
    synthetic_share_start: float = Field(
        0.3, gt=0, lt=1, description="most synthetic share of a fine-tune's data in cycle 1"
    )
    synthetic_share_step: float = Field(0.1, ge=0, description="rise of that share per cycle")
    synthetic_share_cap: float = Field(
        0.5, gt=0, lt=1, description="the synthetic share never passes it (oldest images drop)"
    )
    newest_batch_repeats: int = Field(
        2,
        ge=1,
        description="times the newest approved batch appears in a fine-tune's data, in the room "
        "the synthetic share's cap leaves (1: once, like every other batch; 2 measured better "
        "for every arm; docs: benchmarks)",
    )
    patience: int = Field(2, ge=1, description="stop after this many cycles without promotion")
    target_recall: float = Field(0.9, gt=0, le=1, description="stop when the objective reaches it")
    auto_approve: bool = Field(
        False, description="approve batches whose scores pass the quality thresholds"
    )
    strategy: Strategy = Field(
        "targeted",
        description="targeted: the agent; the others are the benchmark's arms (training only, "
        "class-only generation like the field, uniform conditions, nearest real images from a "
        "pool, the planner aimed at the true worst test slices)",
    )
    concentrate: bool = Field(
        True,
        description="class-only slices take no budget of their own, and edits serve only "
        "lighting/weather hypotheses unless layout_edits fits their layout; measured: with "
        "combine_blame=1 and no class focus, the worst two slices gain 1.6x uniform's (docs: benchmarks)",
    )
    layout_edits: bool = Field(
        False,
        description="edits fit a real image's layout to the blamed distance and crowding "
        "(rescaled about the vanishing point, occluders added; exact boxes), so far and dense "
        "hypotheses get edits too (the diffusers backend can only shrink a real image: its "
        "near or crowded edits keep their layout, counted by the request check); false: edits "
        "keep their layout and serve only lighting and weather hypotheses (under concentrate); "
        "measured on the default world, three seeds: the worst two gain less with it (docs: benchmarks)",
    )
    free_conditions: Literal["uniform", "misses"] = Field(
        "uniform",
        description="conditions a hypothesis does not blame: drawn uniformly, or in proportion "
        "to the slice's miss rate under each (estimated from val pixels, never world truth)",
    )
    blamed_values: Literal["analyst", "deployment"] = Field(
        "analyst",
        description="the lighting and weather of a hypothesis' images: the one value the "
        "analyst blamed (analyst), or each image's drawn in proportion to the slice's misses "
        "deployment would meet under each value: the slice's val misses under the value times "
        "its deployment share over its val share (deployment; needs deploy_images). The "
        "analyst names night for a dark slice whose deployment is mostly dusk; distance and "
        "crowding stay as blamed (unlabelled images show neither), and so do your own "
        "photographs' attribute plans. Off by default: on eight drawn worlds it moved plans "
        "toward the deployment but was within noise of analyst (docs: benchmarks)",
    )
    subject_classes: Literal["uniform", "misses"] = Field(
        "uniform",
        description="the class each image of a slice without a class of its own is about (its "
        "prompt's subject and, procedurally, the class its scene leans to): drawn uniformly, or "
        "in proportion to the slice's missed val objects of each class (far misses are mostly "
        "people and signs; far cars are found); measured on the default world, three seeds: no "
        "gain, far people and signs found no more often (docs: benchmarks)",
    )
    class_focus: bool = Field(
        False,
        description="with concentrate: class-only slices lend their class as the focus of the "
        "other slices' images; false: they are dropped (measured: a sign focus filled the far "
        "images with signs, and far recall gained less)",
    )
    combine_blame: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of a target slice's free conditions drawn from what the other "
        "hypotheses blame (far and dense together), so each image serves several target slices",
    )
    oracle_slices: dict[str, float] = Field(
        default_factory=dict,
        description="the oracle arm's targets, `condition=value` -> recall deficit; set by the "
        "benchmark from world truth, never by the loop",
    )
    real_sample: int = Field(200, ge=10, description="real images used in quality scoring")

    @field_validator("strategy", mode="before")
    @classmethod
    def _renamed_strategy(cls, value: object) -> object:
        # Benchmarks before the arms were renamed stored `untargeted` for today's `uniform`.
        return "uniform" if value == "untargeted" else value

    @model_validator(mode="after")
    def _deployment_needs_images(self) -> LoopSettings:
        if self.blamed_values == "deployment" and self.deploy_images is None:
            raise ValueError(
                "loop.blamed_values: deployment weighs by the deployment images: set "
                "loop.deploy_images to a folder of them, or use blamed_values: analyst"
            )
        return self
