"""The non-inferiority gate (`gate.rule: noninferior`): promote unless val shows harm.

The candidate was fine-tuned from the incumbent on its data and a batch a person approved,
aimed at conditions val may hold few objects of (a drawn world's rare conditions are rare in
val too, by construction: val is the field's). A gain demanded on such slices is one val cannot
show, and the other rules held most candidates that were better on test
(scripts/replay_gate.py). So this rule puts the burden of proof on the harm, with the
statistics of `evaluation.gate.evidence_gate`: the guarded slices as a Holm family, the user's
slices at their own limits, mAP50 at its margin, and the objective's paired interval.

The objective's test is two-sided at `confidence` (a fall below its lower half: one-sided at
half the error rate), stricter than the guarded family's one-sided rate, since the targets are
what the batch aimed at. An objective val cannot measure is no evidence either way: said in the
line, not a block. Promoting candidates that are flat within noise may let recall drift down
over many cycles; the guards and mAP50 bound how far.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from evaluation.comparison import ModelScorecard, unmeasured
from evaluation.gate import GateResult, verdict
from evaluation.paired_evidence import paired_evidence


def noninferior_gate(
    incumbent: ModelScorecard,
    candidate: ModelScorecard,
    targets: Sequence[str],
    max_map_drop: float,
    max_slice_drop: float,
    guarded: Sequence[str],
    limits: Mapping[str, float] | None = None,
    confidence: float = 0.9,
) -> GateResult:
    """Promote unless val shows harm (the module says why and how it is tested): the
    objective's interval at `confidence` below 0 (without an interval, its point fall beyond
    `max_slice_drop`), mAP50 down beyond `max_map_drop`, a `guarded` slice down as in
    `evidence_gate`, or a slice in `limits` down beyond its own limit."""
    read = paired_evidence(
        incumbent, candidate, targets, max_map_drop, max_slice_drop, guarded, limits, confidence
    )
    before, after, gain, blocks, notes = read.before, read.after, read.gain, read.blocks, read.notes
    fell = None  # the objective's own block, which leads the line when there is one
    if before is None or after is None:
        gain_line = unmeasured(incumbent, candidate, targets)
    else:
        gain_line = read.gain_line
        if gain is not None and gain[1] < 0:
            fell = f"{gain_line}: fell beyond noise"
        elif gain is None and before - after > max_slice_drop:
            fell = f"{gain_line}: fell more than {max_slice_drop:.3f} (no interval: objects not recorded)"
    if fell is not None:
        return verdict(incumbent, candidate, targets, [fell, *blocks, *notes], gain, promote=False)
    if blocks:
        first = f"{blocks[0]}; {gain_line}"
        return verdict(
            incumbent, candidate, targets, [first, *blocks[1:], *notes], gain, promote=False
        )
    line = (
        f"no evidence of harm: {gain_line}; mAP50 {incumbent.map50:.3f} -> "
        f"{candidate.map50:.3f}; no slice fell beyond noise (Holm, {len(read.family)} slices)"
    )
    return verdict(incumbent, candidate, targets, [line, *notes], gain, promote=True)
