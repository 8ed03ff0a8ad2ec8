"""The promotion gate: a candidate replaces the incumbent only if it is better on held-out `val`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np
from pydantic import BaseModel, Field


class ModelScorecard(BaseModel):
    """What the gate compares: overall mAP50 and recall per slice, measured on `val`."""

    map50: float
    slice_recall: dict[str, float] = Field(default_factory=dict)
    slice_found: dict[str, list[bool]] = Field(
        default_factory=dict,
        description="per slice, whether each of its objects was found: the same objects in the "
        "same order on both models, the paired evidence a confidence-bound gate reads",
    )


class SliceOutcome(BaseModel):
    """What a targeted slice's val recall did from incumbent to candidate: the test of the
    hypothesis that was aimed at it."""

    before: float
    after: float
    low: float = Field(description="lower end of the 90% two-sided interval of after - before")
    high: float
    verdict: str = Field(description="confirmed (interval above 0), refuted (below), or unclear")


class GateResult(BaseModel):
    """The gate's verdict with the figures behind it."""

    promote: bool
    objective_before: float
    objective_after: float
    map50_before: float
    map50_after: float
    reasons: list[str] = Field(default_factory=list)
    outcomes: dict[str, SliceOutcome] = Field(
        default_factory=dict, description="per target slice: did the recall rise?"
    )

    def verdicts(self) -> dict[str, str]:
        """Per target slice: confirmed, refuted or unclear."""
        return {name: outcome.verdict for name, outcome in self.outcomes.items()}


def objective(card: ModelScorecard, targets: Sequence[str]) -> float | None:
    """Mean recall of the target slices (the failures this cycle set out to fix); None when a
    target was not measured on `card`, or there is no target: then nothing says it improved."""
    if not targets or any(t not in card.slice_recall for t in targets):
        return None
    return sum(card.slice_recall[t] for t in targets) / len(targets)


def gate(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    targets: Sequence[str],
    min_gain: float,
    max_map_drop: float,
    max_slice_drop: float,
    guarded: Mapping[str, float] | None = None,
    confidence: float | None = None,
) -> GateResult:
    """Promote if the objective rises by `min_gain` and neither mAP50 nor any slice drops too far.

    With `confidence` (e.g. 0.9), a gain counts only when its one-sided lower bound is above
    0, and a guarded slice blocks only when its drop is beyond the limit and its lower bound
    above 0: standard errors of the paired per-object differences on val, so that small,
    noisy slices neither promote nor block by chance. Without it, the fixed margins decide.
    A candidate whose objective cannot be compared (a target not measured on either model, or
    no target at all) is never promoted: an unmeasured gain is not a gain.
    """
    before, after = objective(incumbent, targets), objective(candidate, targets)
    reasons = []
    if before is None or after is None:
        unmeasured = [
            t for t in targets if t not in incumbent.slice_recall or t not in candidate.slice_recall
        ]
        reasons.append(
            f"target slices not measured on val: {', '.join(unmeasured)}"
            if unmeasured
            else "no target slice to measure the candidate on"
        )
    elif confidence is not None:
        low = after - before - _z(confidence) * _paired_error(incumbent, candidate, targets)
        if low <= 0:
            reasons.append(
                f"objective rose {after - before:+.3f}, not above 0 with {confidence:.0%} "
                f"confidence (lower bound {low:+.3f})"
            )
    elif after - before < min_gain:
        reasons.append(f"objective rose {after - before:+.3f}, less than {min_gain:.3f}")
    if incumbent.map50 - candidate.map50 > max_map_drop:
        reasons.append(
            f"mAP50 fell {incumbent.map50 - candidate.map50:.3f}, more than {max_map_drop:.3f}"
        )
    for name, old in (guarded if guarded is not None else incumbent.slice_recall).items():
        new = candidate.slice_recall.get(name)
        if new is None or old - new <= max_slice_drop:
            continue
        if confidence is None:
            reasons.append(f"recall of {name} fell {old - new:.3f}, more than {max_slice_drop:.3f}")
            continue
        # A drop counts when it is beyond the limit and beyond noise: its lower bound above 0.
        low = old - new - _z(confidence) * _paired_error(incumbent, candidate, [name])
        if low > 0:
            reasons.append(
                f"recall of {name} fell {old - new:.3f} (lower bound {low:.3f} at "
                f"{confidence:.0%} confidence), more than {max_slice_drop:.3f}"
            )
    promote = not reasons
    if promote:
        reasons.append(
            f"objective {before:.3f} -> {after:.3f}, mAP50 {incumbent.map50:.3f} -> "
            f"{candidate.map50:.3f}"
        )
    # GateResult's objectives are floats (the loop compares objective_after with its target);
    # an unmeasured one is reported as 0.0 beside a reason that says it was not measured.
    return GateResult(
        outcomes=slice_outcomes(incumbent, candidate, targets),
        promote=promote,
        objective_before=before if before is not None else 0.0,
        objective_after=after if after is not None else 0.0,
        map50_before=incumbent.map50,
        map50_after=candidate.map50,
        reasons=reasons,
    )


def slice_outcomes(
    incumbent: ModelScorecard, candidate: ModelScorecard, targets: Sequence[str]
) -> dict[str, SliceOutcome]:
    """Each target's recall change with a 90% interval from its paired per-object differences."""
    outcomes = {}
    for name in targets:
        if name not in incumbent.slice_recall or name not in candidate.slice_recall:
            continue
        before, after = incumbent.slice_recall[name], candidate.slice_recall[name]
        margin = _z(0.95) * _paired_error(incumbent, candidate, [name])
        low, high = after - before - margin, after - before + margin
        verdict = "confirmed" if low > 0 else "refuted" if high < 0 else "unclear"
        outcomes[name] = SliceOutcome(
            before=before,
            after=after,
            low=max(low, -1.0),
            high=min(high, 1.0),
            verdict=verdict,
        )
    return outcomes


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(confidence)


def _paired_error(
    incumbent: ModelScorecard, candidate: ModelScorecard, slices: Sequence[str]
) -> float:
    """Standard error of the mean over `slices` of the per-object recall differences (paired:
    the same objects on both models). Infinite where the objects were not recorded."""
    variances = []
    for name in slices:
        before = np.asarray(incumbent.slice_found.get(name, []), dtype=float)
        after = np.asarray(candidate.slice_found.get(name, []), dtype=float)
        if len(before) == 0 or len(before) != len(after):
            return float("inf")
        differences = after - before
        variances.append(
            differences.var(ddof=1) / len(differences) if len(differences) > 1 else 1.0
        )
    return float(np.sqrt(sum(variances)) / len(variances)) if variances else float("inf")
