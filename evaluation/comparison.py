"""Two scorecards compared, as every gate rule reads them: the objective, the paired intervals
of its gain and of a slice's drop, and the one-line texts of gains, drops and what was not
measured."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field

from evaluation.paired import paired_error, z


class ModelScorecard(BaseModel):
    """What the gate compares: overall mAP50 and recall per slice, measured on `val`."""

    map50: float
    slice_recall: dict[str, float] = Field(default_factory=dict)
    slice_found: dict[str, list[bool]] = Field(
        default_factory=dict,
        description="per slice, whether each of its objects was found: the same objects in the "
        "same order on both models, the paired evidence a confidence-bound gate reads",
    )
    slice_weights: dict[str, list[float]] = Field(
        default_factory=dict,
        description="per weighted slice, each object's weight (in slice_found's order): its "
        "recall is the weighted one (the deployment objective, evaluation/deployment_objective)",
    )


def objective(card: ModelScorecard, targets: Sequence[str]) -> float | None:
    """Mean recall of the target slices (the failures this cycle set out to fix); None when a
    target was not measured on `card`, or there is no target: then nothing says it improved."""
    if not targets or any(t not in card.slice_recall for t in targets):
        return None
    return sum(card.slice_recall[t] for t in targets) / len(targets)


def gain_interval(
    incumbent: ModelScorecard, candidate: ModelScorecard, targets: Sequence[str], level: float
) -> tuple[float, float] | None:
    """The objective gain's two-sided interval at `level`; None where it cannot be given."""
    before, after = objective(incumbent, targets), objective(candidate, targets)
    error = paired_error(
        incumbent.slice_found, candidate.slice_found, targets, incumbent.slice_weights
    )
    if before is None or after is None or not np.isfinite(error):
        return None
    margin = z(0.5 + level / 2) * error
    return after - before - margin, after - before + margin


def drop_interval(
    incumbent: ModelScorecard, candidate: ModelScorecard, name: str, level: float = 0.9
) -> tuple[float, float] | None:
    """A slice's drop (before - after) with its two-sided interval; None if not recorded."""
    gain = gain_interval(incumbent, candidate, [name], level)
    return None if gain is None else (-gain[1], -gain[0])


def drop_text(
    incumbent: ModelScorecard, candidate: ModelScorecard, name: str, level: float = 0.9
) -> str:
    drop = incumbent.slice_recall[name] - candidate.slice_recall[name]
    return f"{drop:.3f}{bracket(drop_interval(incumbent, candidate, name, level))}"


def change_text(interval: tuple[float, float] | None, value: float) -> str:
    return f"{value:+.3f}{bracket(interval)}"


def bracket(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f" [{interval[0]:+.3f}, {interval[1]:+.3f}]"


def unmeasured(incumbent: ModelScorecard, candidate: ModelScorecard, targets: Sequence[str]) -> str:
    missing = [
        t for t in targets if t not in incumbent.slice_recall or t not in candidate.slice_recall
    ]
    if missing:
        return f"target slices not measured on val: {', '.join(missing)}"
    return "no target slice to measure the candidate on"


def unjudged(
    incumbent: ModelScorecard, candidate: ModelScorecard, limits: Mapping[str, float]
) -> list[str]:
    """A line per slice the user guards that val could not measure: said, never passed over."""
    return [
        f"guarded slice {name}: no objects on val, not judged"
        for name in limits
        if name not in incumbent.slice_recall or name not in candidate.slice_recall
    ]


def map50_drop(incumbent: ModelScorecard, candidate: ModelScorecard, limit: float) -> list[str]:
    drop = incumbent.map50 - candidate.map50
    return [f"mAP50 fell {drop:.3f}, more than {limit:.3f}"] if drop > limit else []
