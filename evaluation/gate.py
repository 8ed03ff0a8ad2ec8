"""The promotion gate: a candidate replaces the incumbent only as `val` allows it.

Two rules here, one verdict type. `gate` (the margin rule) promotes on fixed margins: the
objective up by `min_gain`, no slice down by more than its limit. `evidence_gate` decides on
the paired per-object differences on val instead (see its docstring); the third rule,
`evaluation.noninferior`, reads the same evidence the other way round. Each states its evidence
in one line, `GateResult.evidence`, which is also the first of the `reasons`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from evaluation.comparison import (
    ModelScorecard,
    bracket,
    change_text,
    drop_text,
    gain_interval,
    map50_drop,
    objective,
    unjudged,
    unmeasured,
)
from evaluation.paired import paired_error, z
from evaluation.paired_evidence import paired_evidence

__all__ = [
    "GateResult",
    "ModelScorecard",
    "SliceOutcome",
    "evidence_gate",
    "gate",
    "objective",
]


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
    objective_before: float | None = Field(description="None: the targets were not measured")
    objective_after: float | None
    map50_before: float
    map50_after: float
    reasons: list[str] = Field(default_factory=list)
    outcomes: dict[str, SliceOutcome] = Field(
        default_factory=dict, description="per target slice: did the recall rise?"
    )
    evidence: str = Field("", description="the decision's evidence in one line (reasons[0])")
    gain_low: float | None = Field(None, description="the objective gain's interval, if known")
    gain_high: float | None = None
    carried: bool = Field(
        False,
        description="inconclusive (gain above 0, its interval holding 0, nothing blocking): "
        "judged again next cycle against the same incumbent",
    )

    def verdicts(self) -> dict[str, str]:
        """Per target slice: confirmed, refuted or unclear."""
        return {name: outcome.verdict for name, outcome in self.outcomes.items()}


def gate(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    targets: Sequence[str],
    min_gain: float,
    max_map_drop: float,
    max_slice_drop: float,
    guarded: Mapping[str, float] | None = None,
    confidence: float | None = None,
    limits: Mapping[str, float] | None = None,
) -> GateResult:
    """Promote if the objective rises by `min_gain` and neither mAP50 nor any slice drops too far.

    `guarded` maps each guarded slice to the incumbent's recall (default: every slice of the
    incumbent); `limits` gives slices the user named their own maximum drop instead of
    `max_slice_drop`. With `confidence` (e.g. 0.9), a gain counts only when its one-sided
    lower bound is above 0, and a guarded slice blocks only when its drop is beyond the limit
    and its lower bound above 0, each slice tested alone. Without it, the fixed margins decide.
    A candidate whose objective cannot be compared (a target not measured on either model, or
    no target at all) is never promoted: an unmeasured gain is not a gain.
    """
    limits = limits or {}
    before, after = objective(incumbent, targets), objective(candidate, targets)
    gain = gain_interval(incumbent, candidate, targets, 0.9)
    short = _shortfall(incumbent, candidate, targets, gain, min_gain, confidence)
    blocks = map50_drop(incumbent, candidate, max_map_drop)
    guards = dict(guarded if guarded is not None else incumbent.slice_recall)
    guards.update({k: incumbent.slice_recall[k] for k in limits if k in incumbent.slice_recall})
    blocks += _guard_blocks(incumbent, candidate, guards, limits, max_slice_drop, confidence)
    notes = unjudged(incumbent, candidate, limits)
    if short is not None:
        reasons = [short, *blocks, *notes]
        return verdict(incumbent, candidate, targets, reasons, gain, promote=False)
    assert before is not None and after is not None
    if blocks:
        reasons = [
            f"{blocks[0]}; objective {change_text(gain, after - before)}",
            *blocks[1:],
            *notes,
        ]
        return verdict(incumbent, candidate, targets, reasons, gain, promote=False)
    line = (
        f"objective {before:.3f} -> {after:.3f}{bracket(gain)}, mAP50 {incumbent.map50:.3f} -> "
        f"{candidate.map50:.3f}"
    )
    return verdict(incumbent, candidate, targets, [line, *notes], gain, promote=True)


def _shortfall(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    targets: Sequence[str],
    gain: tuple[float, float] | None,
    min_gain: float,
    confidence: float | None,
) -> str | None:
    """Why the objective's gain falls short of `gate`'s rule (unmeasured, not above 0 with
    `confidence`, or under `min_gain`), or None when it does not."""
    before, after = objective(incumbent, targets), objective(candidate, targets)
    if before is None or after is None:
        return unmeasured(incumbent, candidate, targets)
    if confidence is not None:
        low = (
            after
            - before
            - z(confidence)
            * paired_error(
                incumbent.slice_found, candidate.slice_found, targets, incumbent.slice_weights
            )
        )
        if low <= 0:
            return (
                f"objective rose {after - before:+.3f}, not above 0 with {confidence:.0%} "
                f"confidence (lower bound {low:+.3f})"
            )
        return None
    if after - before < min_gain:
        return f"objective rose {change_text(gain, after - before)}, less than {min_gain:.3f}"
    return None


def _guard_blocks(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    guards: Mapping[str, float],
    limits: Mapping[str, float],
    max_slice_drop: float,
    confidence: float | None,
) -> list[str]:
    """`gate`'s blocks from the guarded slices (name -> the incumbent's recall): each slice
    whose recall fell beyond its limit (and, with `confidence`, beyond noise), tested alone."""
    blocks = []
    for name, old in guards.items():
        new, limit = candidate.slice_recall.get(name), limits.get(name, max_slice_drop)
        if new is None or old - new <= limit:
            continue
        if confidence is None or name in limits:
            blocks.append(
                f"recall of {name} fell {drop_text(incumbent, candidate, name)}, more than {limit:.3f}"
            )
            continue
        # A drop counts when it is beyond the limit and beyond noise: its lower bound above 0.
        low = (
            old
            - new
            - z(confidence)
            * paired_error(
                incumbent.slice_found, candidate.slice_found, [name], incumbent.slice_weights
            )
        )
        if low > 0:
            blocks.append(
                f"recall of {name} fell {old - new:.3f} (lower bound {low:.3f} at "
                f"{confidence:.0%} confidence), more than {limit:.3f}"
            )
    return blocks


def evidence_gate(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    targets: Sequence[str],
    max_map_drop: float,
    max_slice_drop: float,
    guarded: Sequence[str],
    limits: Mapping[str, float] | None = None,
    confidence: float = 0.9,
    carried: tuple[str, GateResult] | None = None,
) -> GateResult:
    """Promote on the evidence of the paired per-object differences on val.

    - The gain: the objective's change with its two-sided interval at `confidence`, from the
      paired per-object differences of the target slices. Above 0: a gain. Holding 0 with a
      positive point gain: inconclusive. At or below 0: no gain.
    - mAP50 may not drop more than `max_map_drop` (a fixed margin: only the overall figure is
      kept, and over all of val it is the least noisy one).
    - The `guarded` slices are tested as one family with Holm's step-down procedure at error
      rate 1 - `confidence`: each slice's one-sided p-value of "its recall fell", and a slice
      blocks when Holm rejects it and its drop is beyond `max_slice_drop`. Holm, not a false
      discovery rate: one false block is enough to hold a good candidate back, so the error
      to control is the chance of any false block (the family-wise rate), which Holm bounds
      under any dependence between slices; Benjamini-Hochberg bounds the share of false
      blocks among blocks, which is no comfort when one block decides.
    - Slices the user named in `limits` are the user's own rule: each blocks when its drop is
      beyond its own limit, judged alone and not corrected for the family.
    - Inconclusive, with nothing blocking: the candidate is carried (`carried=True`). Next
      cycle the loop trains a new candidate from the same incumbent on more data (the carried
      one's images and the new batch) and judges it; `carried` then holds the carried
      candidate's name and its verdict re-judged on that cycle's targets and guards. If the
      new candidate is inconclusive too and the carried one is still better (gain above 0,
      nothing blocking), the candidates stayed better over two cycles: the new one, trained
      on more images, is promoted. Otherwise the carried one is dropped. This is a lower
      bar than an interval above 0: both verdicts read the same val objects, so two positive
      gains are weaker evidence than two independent ones (scripts/replay_gate.py measures
      what it costs in false promotions).
    """
    read = paired_evidence(
        incumbent, candidate, targets, max_map_drop, max_slice_drop, guarded, limits, confidence
    )
    before, after, gain, blocks, notes = read.before, read.after, read.gain, read.blocks, read.notes
    if before is None or after is None:
        reasons = [unmeasured(incumbent, candidate, targets), *blocks, *notes]
        return verdict(incumbent, candidate, targets, reasons, gain, promote=False)
    gain_line = read.gain_line
    if after - before <= 0:
        reasons = [f"{gain_line}, not above 0", *blocks, *notes]
        return verdict(incumbent, candidate, targets, reasons, gain, promote=False)
    if blocks:
        reasons = [f"{blocks[0]}; {gain_line}", *blocks[1:], *notes]
        return verdict(incumbent, candidate, targets, reasons, gain, promote=False)
    return _unblocked_gain(
        incumbent, candidate, targets, gain, gain_line, len(read.family), notes, carried
    )


def _unblocked_gain(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    targets: Sequence[str],
    gain: tuple[float, float] | None,
    gain_line: str,
    family_size: int,
    notes: list[str],
    carried: tuple[str, GateResult] | None,
) -> GateResult:
    """The evidence gate's verdict on a point gain above 0 with nothing blocking: promoted when
    its interval is above 0, or when the carried candidate is better again; else carried."""
    rest = (
        f"mAP50 {incumbent.map50:.3f} -> {candidate.map50:.3f}; no slice fell beyond noise "
        f"(Holm, {family_size} slices)"
    )
    if gain is not None and gain[0] > 0:
        reasons = [f"{gain_line}; {rest}", *notes]
        return verdict(incumbent, candidate, targets, reasons, gain, promote=True)
    if carried is not None and (carried[1].promote or carried[1].carried):
        name, again = carried
        line = (
            f"{gain_line} holds 0, and {name}, carried, is better again ({_gain_text(again)}): "
            f"better over two cycles; {rest}"
        )
        return verdict(incumbent, candidate, targets, [line, *notes], gain, promote=True)
    line = f"{gain_line} holds 0: carried to the next cycle; {rest}"
    result = verdict(incumbent, candidate, targets, [line, *notes], gain, promote=False)
    result.carried = True
    return result


def _gain_text(result: GateResult) -> str:
    """A verdict's objective gain with its interval, e.g. '+0.030 [-0.010, +0.070]'."""
    if result.objective_before is None or result.objective_after is None:
        return "objective not measured"
    gain = (
        None
        if result.gain_low is None or result.gain_high is None
        else (result.gain_low, result.gain_high)
    )
    return change_text(gain, result.objective_after - result.objective_before)


def verdict(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    targets: Sequence[str],
    reasons: list[str],
    gain: tuple[float, float] | None,
    promote: bool,
) -> GateResult:
    return GateResult(
        outcomes=slice_outcomes(incumbent, candidate, targets),
        promote=promote,
        objective_before=objective(incumbent, targets),
        objective_after=objective(candidate, targets),
        map50_before=incumbent.map50,
        map50_after=candidate.map50,
        reasons=reasons,
        evidence=reasons[0],
        gain_low=gain[0] if gain else None,
        gain_high=gain[1] if gain else None,
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
        margin = z(0.95) * paired_error(
            incumbent.slice_found, candidate.slice_found, [name], incumbent.slice_weights
        )
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
