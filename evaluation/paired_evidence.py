"""The paired evidence both evidence-reading gate rules (`evidence_gate`, `noninferior_gate`)
take from two scorecards: the objective with its interval, and what blocks a candidate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.comparison import (
    ModelScorecard,
    change_text,
    drop_text,
    gain_interval,
    map50_drop,
    objective,
    unjudged,
)
from evaluation.paired import holm, p_fell, paired_error


@dataclass(frozen=True)
class PairedEvidence:
    """What the evidence and non-inferiority rules read alike from two scorecards: the
    objective before and after with its interval, the guarded family, what blocks (mAP50, the
    family by Holm, the user's slices at their limits), and notes of what val could not judge."""

    before: float | None
    after: float | None
    gain: tuple[float, float] | None
    family: list[str]
    blocks: list[str]
    notes: list[str]
    confidence: float

    @property
    def gain_line(self) -> str:
        """The objective's change with its interval (only when both ends were measured)."""
        assert self.before is not None and self.after is not None
        change = change_text(self.gain, self.after - self.before)
        return f"objective {self.before:.3f} -> {self.after:.3f}, {change} ({self.confidence:.0%})"


def paired_evidence(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    targets: Sequence[str],
    max_map_drop: float,
    max_slice_drop: float,
    guarded: Sequence[str],
    limits: Mapping[str, float] | None,
    confidence: float,
) -> PairedEvidence:
    """The paired evidence of `candidate` against `incumbent` (see `evidence_gate`)."""
    limits = limits or {}
    family = [n for n in guarded if n not in limits and n in incumbent.slice_recall]
    blocks = map50_drop(incumbent, candidate, max_map_drop)
    blocks += _family_blocks(incumbent, candidate, family, max_slice_drop, 1 - confidence)
    blocks += _limit_blocks(incumbent, candidate, limits, confidence)
    return PairedEvidence(
        before=objective(incumbent, targets),
        after=objective(candidate, targets),
        gain=gain_interval(incumbent, candidate, targets, confidence),
        family=family,
        blocks=blocks,
        notes=unjudged(incumbent, candidate, limits),
        confidence=confidence,
    )


def _limit_blocks(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    limits: Mapping[str, float],
    confidence: float,
) -> list[str]:
    """The evidence gate's blocks from the slices the user named: each whose drop is beyond its
    own limit, judged alone."""
    blocks = []
    for name, limit in limits.items():
        if name not in incumbent.slice_recall or name not in candidate.slice_recall:
            continue
        if incumbent.slice_recall[name] - candidate.slice_recall[name] > limit:
            blocks.append(
                f"recall of {name} fell {drop_text(incumbent, candidate, name, confidence)}, "
                f"beyond its limit {limit:.3f}"
            )
    return blocks


def _family_blocks(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    family: Sequence[str],
    max_drop: float,
    error_rate: float,
) -> list[str]:
    """The family's slices whose drop is beyond `max_drop` and which Holm's procedure rejects
    at `error_rate` (one-sided: "recall fell"), largest evidence first."""
    if not family:
        return []
    drops = {n: incumbent.slice_recall[n] - candidate.slice_recall.get(n, np.nan) for n in family}
    p = {
        n: p_fell(
            drops[n],
            paired_error(
                incumbent.slice_found, candidate.slice_found, [n], incumbent.slice_weights
            ),
        )
        for n in family
    }
    adjusted = holm(p)
    return [
        f"recall of {name} fell {drop_text(incumbent, candidate, name, 1 - error_rate)}, beyond "
        f"{max_drop:.3f} (Holm p {adjusted[name]:.3f}, {len(family)} slices)"
        for name in sorted(family, key=lambda n: adjusted[n])
        if adjusted[name] <= error_rate and drops[name] > max_drop
    ]
