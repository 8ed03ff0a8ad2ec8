"""The promotion gate: a candidate replaces the incumbent only if it is better on held-out `val`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field


class ModelScorecard(BaseModel):
    """What the gate compares: overall mAP50 and recall per slice, measured on `val`."""

    map50: float
    slice_recall: dict[str, float] = Field(default_factory=dict)


class GateResult(BaseModel):
    """The gate's verdict with the figures behind it."""

    promote: bool
    objective_before: float
    objective_after: float
    map50_before: float
    map50_after: float
    reasons: list[str] = Field(default_factory=list)


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
) -> GateResult:
    """Promote if the objective rises by `min_gain` and neither mAP50 nor any slice drops too far.

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
    elif after - before < min_gain:
        reasons.append(f"objective rose {after - before:+.3f}, less than {min_gain:.3f}")
    if incumbent.map50 - candidate.map50 > max_map_drop:
        reasons.append(
            f"mAP50 fell {incumbent.map50 - candidate.map50:.3f}, more than {max_map_drop:.3f}"
        )
    for name, old in (guarded if guarded is not None else incumbent.slice_recall).items():
        new = candidate.slice_recall.get(name)
        if new is not None and old - new > max_slice_drop:
            reasons.append(f"recall of {name} fell {old - new:.3f}, more than {max_slice_drop:.3f}")
    promote = not reasons
    if promote:
        reasons.append(
            f"objective {before:.3f} -> {after:.3f}, mAP50 {incumbent.map50:.3f} -> "
            f"{candidate.map50:.3f}"
        )
    # GateResult's objectives are floats (the loop compares objective_after with its target);
    # an unmeasured one is reported as 0.0 beside a reason that says it was not measured.
    return GateResult(
        promote=promote,
        objective_before=before if before is not None else 0.0,
        objective_after=after if after is not None else 0.0,
        map50_before=incumbent.map50,
        map50_after=candidate.map50,
        reasons=reasons,
    )
