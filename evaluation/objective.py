"""The gate's objective when it is the worst val slices (`gate.objective: worst`), not the targets.

The loop aims at its target slices; the user cares about where the detector is worst. With
`worst`, every gate rule judges the objective (mean val recall over a set of slices, with the
same statistics as on the targets) on `worst_slices`: the union of the incumbent's and the
candidate's `k` worst single slices, each measured on both models with enough objects. The
union, not either model's own worst: the incumbent's worst say where it mattered before; the
candidate's own worst keep a candidate from hiding a new failure on a slice that was fine.
Both models are judged on the same slices, measured fresh on each candidate's val predictions.

The deployment images (`loop.deploy_images`) do not weight this objective (the worst slices
are worst whatever their frequency); `gate.objective: deployment` is the objective they weight
(evaluation/deployment_objective.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from evaluation.comparison import ModelScorecard
from evaluation.gate import GateResult, slice_outcomes


def worst_slices(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    names: Sequence[str],
    k: int,
    min_support: int,
) -> list[str]:
    """The objective's slices: the incumbent's `k` worst of `names` by val recall, then the
    candidate's `k` worst not already among them (ties broken by name).

    A slice is eligible when both scorecards measured it and recorded at least `min_support`
    of its objects (the same val objects on both models), so that neither a slice of a few
    objects nor one a model was not measured on can decide.
    """
    eligible = [
        name
        for name in names
        if name in incumbent.slice_recall
        and name in candidate.slice_recall
        and len(incumbent.slice_found.get(name, ())) >= min_support
        and len(candidate.slice_found.get(name, ())) >= min_support
    ]

    def worst(card: ModelScorecard) -> list[str]:
        return sorted(eligible, key=lambda name: (card.slice_recall[name], name))[:k]

    return list(dict.fromkeys([*worst(incumbent), *worst(candidate)]))


def objective_text(slices: Sequence[str]) -> str:
    """The evidence line's note of which slices were the objective."""
    if not slices:
        return "objective: worst val slices, none measured with enough objects"
    return f"objective: worst val slices {', '.join(slices)}"


def restated(
    result: GateResult,
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    targets: Sequence[str],
    slices: Sequence[str],
    text: str | None = None,
) -> GateResult:
    """A verdict reached with `slices` as the objective, restated for the cycle: the evidence
    line names the objective (`text`, or the worst slices' names), and the outcomes are the
    targets' (the hypotheses the cycle tested, which the next plan reads), whatever the
    objective was."""
    first = f"{result.reasons[0]}; {text or objective_text(slices)}"
    return result.model_copy(
        update={
            "reasons": [first, *result.reasons[1:]],
            "evidence": first,
            "outcomes": slice_outcomes(incumbent, candidate, targets),
        }
    )
