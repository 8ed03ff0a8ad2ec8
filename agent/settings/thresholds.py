"""Settings that judge: the batch quality thresholds and the promotion gate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator


class QualitySettings(BaseModel):
    """Thresholds of the four quality scores (higher is worse) and the per-image filters."""

    unrealistic: float = Field(
        0.9,
        ge=0,
        le=1,
        description="highest allowed: how easily a classifier tells synthetic from real",
    )
    unrepresentative: float = Field(
        0.9,
        ge=0,
        le=1,
        description="highest allowed: how much of the real data the batch fails to resemble",
    )
    unvaried: float = Field(0.2, ge=0, le=1, description="highest share of near copies allowed")
    unoriginal: float = Field(
        0.1, ge=0, le=1, description="highest share of near copies of real images allowed"
    )
    duplicate_distance: float = Field(
        0.003, gt=0, description="cosine distance of image fingerprints below which two are copies"
    )
    drop_unrealistic: float = Field(
        0.1, ge=0, lt=1, description="share of most synthetic-looking dropped"
    )

    def thresholds(self) -> dict[str, float]:
        return {
            "unrealistic": self.unrealistic,
            "unrepresentative": self.unrepresentative,
            "unvaried": self.unvaried,
            "unoriginal": self.unoriginal,
        }


class GateSettings(BaseModel):
    """Promotion rule: the objective must rise (noninferior: must not fall beyond noise), mAP50
    and the guarded slices must not fall.

    `rule: margin` decides on fixed margins; `rule: evidence` on the paired per-object
    differences on val (evaluation/gate.evidence_gate): the gain on its interval, the guarded
    slices as a family (Holm), an inconclusive candidate judged again next cycle;
    `rule: noninferior` on the same statistics, holding a candidate only where val shows harm
    (evaluation/noninferior.py). Every rule measures the objective on the cycle's
    targets or, with `objective: worst`, on the worst val slices of both models
    (evaluation/objective.py).
    """

    min_gain: float = Field(
        0.01, ge=0, description="least rise of the objective (val recall, see objective)"
    )
    max_map_drop: float = Field(0.02, ge=0, description="largest fall of val mAP50 allowed")
    max_slice_drop: float = Field(
        0.05, ge=0, description="largest fall of a guarded slice's val recall allowed"
    )
    confidence: float | None = Field(
        None,
        gt=0.5,
        lt=1,
        description="decide on confidence bounds of paired per-object differences on val "
        "instead of fixed margins: a gain must be above 0, a guarded slice's drop beyond "
        "max_slice_drop and above 0, each one-sided at this confidence (e.g. 0.9); with "
        "rule evidence or noninferior, the level of the gain's two-sided interval, and 1 "
        "minus the guarded slices' family-wise error rate (0.9 when unset)",
    )
    rule: Literal["margin", "evidence", "noninferior"] = Field(
        "margin",
        description="margin: min_gain and max_slice_drop as fixed margins (per-slice bounds "
        "with confidence); evidence: the gain's interval above 0, a guarded slice blocks when "
        "Holm's procedure over all of them finds it fell and it fell beyond max_slice_drop, "
        "an inconclusive candidate is carried to the next cycle (docs: the loop, "
        "gate_candidate); noninferior: promoted unless val shows harm (the objective's "
        "interval below 0, mAP50 down beyond max_map_drop, a guarded slice down as for "
        "evidence), with the evidence rule's statistics",
    )
    objective: Literal["targets", "worst", "deployment"] = Field(
        "targets",
        description="what the gain is measured on: targets, the mean val recall of the cycle's "
        "target slices (what the loop aimed at); worst, the mean val recall of the union of "
        "the incumbent's and the candidate's worst_slices worst single slices (each bin of an "
        "attribute or class with at least loop.min_support val objects), measured fresh on "
        "both models, so a candidate better where the detector is worst is promoted and one "
        "with a new failure is not (evaluation/objective.py); deployment, val recall with "
        "each object weighted by how much more common its image's conditions are among "
        "loop.deploy_images than on val (lighting and weather from pixels, distance and "
        "crowding from boxes, the deployment's predicted by the incumbent and corrected on "
        "val; needs the images; "
        "evaluation/deployment_objective.py), "
        "so a candidate better where the detector is deployed is not judged on the field's mix; "
        "any rule, same statistics",
    )
    worst_slices: int = Field(
        2,
        ge=1,
        description="with objective worst: how many of each model's worst val slices the "
        "objective holds (their union: between this and twice this many)",
    )
    guarded_slices: dict[str, float] = Field(
        default_factory=dict,
        description="slices that must not regress, each with its own largest allowed drop of "
        "val recall, judged alone (e.g. {'class=Platelets': 0.0}); a name is attribute=bin or "
        "class=name, several joined by ' & ' (as failure slices are named)",
    )

    @field_validator("guarded_slices")
    @classmethod
    def _slice_names(cls, value: dict[str, float]) -> dict[str, float]:
        for name, limit in value.items():
            parts = [part.split("=", 1) for part in name.split(" & ")]
            if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in parts):
                raise ValueError(
                    f"gate.guarded_slices: '{name}' is not a slice name; write attribute=bin "
                    "or class=name, several joined by ' & ' (e.g. 'class=Platelets')"
                )
            if not 0 <= limit <= 1:
                raise ValueError(
                    f"gate.guarded_slices: the limit of '{name}' is {limit}; a recall drop "
                    "lies between 0 and 1"
                )
        return value
