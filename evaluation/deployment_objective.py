"""The gate's objective when it is val weighted to the deployment (`gate.objective: deployment`).

Val is drawn like the field data; the user's detector meets the deployment. Where the two
differ in conditions (lighting and weather read from pixels, distance and crowding from the
incumbent's predicted boxes: `agent.steps.condition_reads.deployment_weighting`), val recall
weighted by importance (each object's weight: its image's conditions' deployment share over
their val share, read from the unlabelled deployment images) estimates
the recall the deployment would see, with no deployment label. It is a covariate-shift
correction, unbiased where the misses depend on the deployment only through those conditions
and the weights are right; as uncertain as the few val objects it leans on (the paired interval
widens with uneven weights; the evidence line gives the effective number of objects). Two
approximations: an object's weight is the product of its conditions' ratios (the joint ratio
where they are independent), and the interval takes the weights as known,
though they are estimated from a sample of deployment images (`pooled_prevalence`).

A candidate that moved toward the deployment (more night images where night is common there)
is judged where it moved, instead of on the field's mix that hides the gain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.comparison import ModelScorecard
from evaluation.slices import ObjectTable

# The objective's slice name in a scorecard: all val objects, weighted.
DEPLOYMENT_SLICE = "val weighted to the deployment"
NOT_MEASURED = "val weighted to the deployment not measured: val has no objects"


@dataclass(frozen=True)
class DeploymentWeighting:
    """What weighs val to the deployment: each val image's conditions (by sample id) and each
    condition value's prevalence (deployment share over val share)."""

    conditions: Mapping[str, Mapping[str, str]]
    prevalence: Mapping[str, Mapping[str, float]]

    def weigh(self, card: ModelScorecard, table: ObjectTable) -> ModelScorecard:
        """`card` (measured on `table`'s val objects) with the deployment slice added."""
        weights = object_weights(table.sample_ids, self.conditions, self.prevalence)
        return with_deployment_slice(card, table.found.tolist(), weights.tolist())

    def used(self) -> dict[str, dict[str, float]]:
        """The prevalence of the values some val image shows: the ratios that weigh objects
        (the evidence line names these, not a smoothed ratio of a value val never shows)."""
        return {
            name: {
                value: ratio
                for value, ratio in ratios.items()
                if any(seen.get(name) == value for seen in self.conditions.values())
            }
            for name, ratios in self.prevalence.items()
        }


def pooled_prevalence(
    deployed: Sequence[Mapping[str, str]],
    val: Sequence[Mapping[str, str]],
    vocabulary: Mapping[str, Sequence[str]],
    conditions: Sequence[str],
) -> dict[str, dict[str, float]]:
    """Per condition of `conditions` and value: its deployment share over its val share, each
    share smoothed toward the value's pooled share of both samples, (count + k * pooled) /
    (images + k) with k values. Unlike a uniform prior, this never weighs up a value one sample
    lacks: a value on 1 of 600 val images and none of 200 deployment images weighs about 0.01,
    not 1.5; one neither shows weighs 1 (no object carries it)."""
    prevalence: dict[str, dict[str, float]] = {}
    for name in conditions:
        values = list(vocabulary[name])
        k, total = len(values), len(deployed) + len(val)
        prevalence[name] = {}
        for value in values:
            d = sum(c.get(name) == value for c in deployed)
            v = sum(c.get(name) == value for c in val)
            pooled = (d + v) / total if total else 0.0
            if pooled == 0:
                prevalence[name][value] = 1.0
                continue
            deployed_share = (d + k * pooled) / (len(deployed) + k)
            val_share = (v + k * pooled) / (len(val) + k)
            prevalence[name][value] = deployed_share / val_share
    return prevalence


def object_weights(
    sample_ids: Sequence[str],
    conditions: Mapping[str, Mapping[str, str]],
    prevalence: Mapping[str, Mapping[str, float]],
) -> np.ndarray:
    """Per object (its image's id in `sample_ids`), the product over the conditions of
    `prevalence` of its image's value's prevalence; 1 for a condition its image was not read
    in, or a value `prevalence` does not know."""
    weights = np.ones(len(sample_ids))
    for index, sample in enumerate(sample_ids):
        seen = conditions.get(sample, {})
        for name, ratios in prevalence.items():
            weights[index] *= ratios.get(seen.get(name, ""), 1.0)
    return weights


def with_deployment_slice(
    card: ModelScorecard, found: Sequence[bool], weights: Sequence[float]
) -> ModelScorecard:
    """`card` with the deployment slice added: every val object (`found`, in the order of
    `weights`), its recall weighted."""
    flags = [bool(f) for f in found]
    each = [float(w) for w in weights]
    if not flags or len(flags) != len(each) or sum(each) <= 0:
        return card  # nothing to weigh: the slice stays unmeasured, and the gate says so
    recall = float(np.dot(each, flags) / sum(each))
    return card.model_copy(
        update={
            "slice_recall": {**card.slice_recall, DEPLOYMENT_SLICE: recall},
            "slice_found": {**card.slice_found, DEPLOYMENT_SLICE: flags},
            "slice_weights": {**card.slice_weights, DEPLOYMENT_SLICE: each},
        }
    )


def effective_objects(weights: Sequence[float]) -> float:
    """Kish's effective sample size, (sum w)^2 / sum w^2: how many equally weighted objects the
    weighted recall is worth."""
    each = np.asarray(weights, dtype=float)
    return float(each.sum() ** 2 / np.sum(each**2)) if np.sum(each**2) > 0 else 0.0


def deployment_text(card: ModelScorecard, prevalence: Mapping[str, Mapping[str, float]]) -> str:
    """The evidence line's note of the objective: its effective objects and the values
    deployment makes most and least common against val."""
    weights = card.slice_weights.get(DEPLOYMENT_SLICE)
    if not weights:
        return NOT_MEASURED
    ratios = sorted(
        (ratio, f"{name} {value}")
        for name, values in prevalence.items()
        for value, ratio in values.items()
    )[::-1]
    # The two values deployment makes most common against val, and the one it makes rarest.
    picked = list(dict.fromkeys([*ratios[:2], *ratios[-1:]]))
    shown = ", ".join(f"{label} x{ratio:.1f}" for ratio, label in picked)
    return (
        f"objective: val weighted to the deployment ({effective_objects(weights):.0f} effective "
        f"of {len(weights)} objects; {shown})"
    )
