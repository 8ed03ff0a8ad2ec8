"""The gate's objective when it is val weighted to the deployment (`gate.objective: deployment`).

Val is drawn like the field data; the user's detector meets the deployment. Where the two
differ in conditions (lighting and weather read from pixels, distance and crowding from boxes:
val's labelled ones, the deployment's predicted by the incumbent and corrected for how that
reading errs on val; `agent.steps.condition_reads.deployment_weighting`), val recall weighted
by importance (each object's weight: its image's conditions' deployment share over their val
share) estimates
the recall the deployment would see, with no deployment label. It is a covariate-shift
correction, unbiased where the misses depend on the deployment only through those conditions
and the weights are right; as uncertain as the few val objects it leans on (the paired interval
widens with uneven weights; the evidence line gives the effective number of objects). Two
approximations: an object's weight is the product of its conditions' ratios (the joint ratio
where they are independent), and the interval takes the weights as known,
though they are estimated from a sample of deployment images (`shifted_prevalence`).

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


def shifted_prevalence(
    val_labelled: Sequence[Mapping[str, str]],
    val_predicted: Sequence[Mapping[str, str]],
    deployed_predicted: Sequence[Mapping[str, str]],
    vocabulary: Mapping[str, Sequence[str]],
    conditions: Sequence[str],
) -> dict[str, dict[str, float]]:
    """Per condition of `conditions` and value: its deployment share over its val share.

    Val images are read with their labelled boxes (`val_labelled`) and, like the deployment
    images, with a model's predicted boxes (`val_predicted`, `deployed_predicted`, in the order
    of `val_labelled`). The predicted reading is wrong in a way val measures (a detector that
    misses far objects reads a far image as mid), so the deployment's shares are corrected by
    that confusion (`shift_corrected_counts`), and weights never follow the model's own misses.
    A condition read from pixels alone reads the same both ways: its confusion is the identity.
    Each share is then smoothed toward the value's pooled share of both samples, (count + k *
    pooled) / (images + k) with k values, which never weighs up a value one sample lacks (1 of
    600 val images, none of 200 deployed: about 0.01, where a uniform prior says 1.5); a value
    neither shows weighs 1 (no object carries it)."""
    prevalence: dict[str, dict[str, float]] = {}
    deployed_n, val_n = len(deployed_predicted), len(val_labelled)
    for name in conditions:
        values = list(vocabulary[name])
        k = len(values)
        deployed = shift_corrected_counts(
            [c.get(name, "") for c in val_labelled],
            [c.get(name, "") for c in val_predicted],
            [c.get(name, "") for c in deployed_predicted],
            values,
        )
        prevalence[name] = {}
        for value in values:
            d, v = deployed[value], float(sum(c.get(name) == value for c in val_labelled))
            pooled = (d + v) / (deployed_n + val_n) if deployed_n + val_n else 0.0
            if pooled == 0:
                prevalence[name][value] = 1.0
                continue
            deployed_share = (d + k * pooled) / (deployed_n + k)
            val_share = (v + k * pooled) / (val_n + k)
            prevalence[name][value] = deployed_share / val_share
    return prevalence


def shift_corrected_counts(
    val_labelled: Sequence[str],
    val_predicted: Sequence[str],
    deployed_predicted: Sequence[str],
    values: Sequence[str],
) -> dict[str, float]:
    """How many deployment images show each value, from how many a predicted reading assigns
    it, corrected by that reading's confusion on val (black-box shift estimation, Lipton et al.
    2018): observed = C @ true, with C[read, label] = P(read | label) counted on val; solved by
    least squares, clipped at 0 and rescaled to the deployment's images. One pseudo-image per
    value read right keeps C invertible where val lacks a value (it is then taken as read
    right)."""
    index = {value: i for i, value in enumerate(values)}
    confusion = np.eye(len(values))
    for label, read in zip(val_labelled, val_predicted, strict=True):
        if label in index and read in index:
            confusion[index[read], index[label]] += 1
    confusion /= confusion.sum(axis=0, keepdims=True)
    observed = np.array([sum(r == v for r in deployed_predicted) for v in values], dtype=float)
    solved = np.clip(np.linalg.lstsq(confusion, observed, rcond=None)[0], 0, None)
    if solved.sum() > 0:
        solved *= observed.sum() / solved.sum()
    return {value: float(count) for value, count in zip(values, solved, strict=True)}


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
