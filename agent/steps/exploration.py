"""Exploration as a policy: how much of a batch covers conditions discovery cannot yet see, and
which conditions those images are in (Thompson sampling on Beta posteriors).

Two bandits, both pure functions of what the loop has measured:

- The share. Each aimed slice is worth `excess x p`: `excess`, a draw of its miss rate from
  Beta(missed + 1, found + 1) minus the miss rate expected of its objects (how much worse it
  is than it should be, as uncertain as its support makes it); `p`, a draw of the chance that
  aiming fixes a slice, Beta(1 + confirmed, 1 + refuted) over every earlier outcome (`unclear`
  counts half to each). Exploring is worth the best unexplored condition's excess (drawn the
  same way from val objects seen in that condition) times a draw of Beta(1, 1): exploring is
  never judged by an outcome of its own, so its chance stays unknown. The share is how often
  exploring's draw beats every aimed slice's, bounded to [share_min, share_max]. Few
  outcomes and thin slices leave the draws wide and the share near 1 / (slices + 1);
  confirmations push `p` towards 1 and the share down; refutations push it up.
- The conditions. Each exploration image is one Thompson pull over the conditions no
  hypothesis blames: every unexplored `condition=value` draws its excess, the largest wins
  (times its deployment prevalence when known), and the image is in that value with the
  other conditions uniform over the vocabulary. A value val barely holds has a wide posterior
  and wins often; a common one whose miss rate is well measured and ordinary seldom does.
  Each cycle measures a new incumbent on val, so the posteriors move with what training did.

Chosen over an epsilon-greedy share (fixed, blind to evidence) and UCB (deterministic: every
image of a batch would go to the same value): Thompson's pulls spread a batch over the
plausible conditions in proportion to how likely each is the worst.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evaluation.slices import FailureSlice

# Monte Carlo draws behind the share: its standard error is at most 0.008.
SHARE_DRAWS = 4000


@dataclass(frozen=True)
class ConditionEvidence:
    """Per condition and value of the vocabulary: val objects seen in images of that value, and
    how many of them the incumbent missed (values estimated from pixels and boxes)."""

    seen: Mapping[str, Mapping[str, int]]
    missed: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class Exploration:
    """A batch's exploration: its share, one condition draw per image, and what they explore."""

    share: float
    draws: list[dict[str, str]] = field(default_factory=list)
    explored: dict[str, int] = field(default_factory=dict)  # "condition=value" -> images
    reason: str = ""


def condition_evidence(
    object_samples: Sequence[str],
    found: np.ndarray,
    conditions: Mapping[str, Mapping[str, str]],
    vocabulary: Mapping[str, Sequence[str]],
) -> ConditionEvidence:
    """Tally val objects per condition value: `object_samples[k]` is object k's image, `found[k]`
    whether the incumbent found it, `conditions[image]` the image's estimated conditions."""
    seen = {name: dict.fromkeys(values, 0) for name, values in vocabulary.items()}
    missed = {name: dict.fromkeys(values, 0) for name, values in vocabulary.items()}
    for sample, hit in zip(object_samples, found, strict=True):
        for name, value in conditions[sample].items():
            if name in seen and value in seen[name]:
                seen[name][value] += 1
                missed[name][value] += int(not hit)
    return ConditionEvidence(seen, missed)


def plan_exploration(
    outcomes: Sequence[Mapping[str, str | int]],
    slices: Sequence[FailureSlice],
    evidence: ConditionEvidence,
    vocabulary: Mapping[str, Sequence[str]],
    aimed: Mapping[str, Collection[str]],
    images: int,
    seed: int,
    share_min: float = 0.05,
    share_max: float = 0.4,
    prevalence: Mapping[str, Mapping[str, float]] | None = None,
) -> Exploration:
    """The exploration share of a batch of `images` and the conditions of its exploration images.

    `outcomes`: `state.earlier_outcomes()` (each with a `verdict`); `slices`: the slices the
    batch aims at; `aimed`: per condition the values the hypotheses already blame (not
    explored: aiming covers them); `prevalence`: optional per condition and value, how much
    more common the value is in deployment than on val (1 where unknown).
    """
    rng = np.random.default_rng(seed)
    arms = [
        (name, value)
        for name, values in vocabulary.items()
        for value in values
        if value not in aimed.get(name, ())
    ]
    if not arms or images <= 0:
        return Exploration(0.0, reason="nothing left unexplored" if not arms else "no images")
    counts = {v: 0.0 for v in ("confirmed", "refuted")}
    for outcome in outcomes:
        verdict = str(outcome["verdict"])
        if verdict in counts:
            counts[verdict] += 1
        else:  # unclear: as much for as against
            counts["confirmed"] += 0.5
            counts["refuted"] += 0.5
    explore = _best_arm_values(arms, evidence, prevalence, rng, SHARE_DRAWS)[1]
    explore = explore * rng.beta(1, 1, SHARE_DRAWS)
    if slices:
        aims = np.stack([_slice_excess(s, rng, SHARE_DRAWS) for s in slices])
        aims = aims * rng.beta(1 + counts["confirmed"], 1 + counts["refuted"], aims.shape)
        raw = float(np.mean(explore > aims.max(axis=0)))
    else:
        raw = 1.0
    share = float(np.clip(raw, share_min, share_max))
    count = round(share * images)
    winners = _best_arm_values(arms, evidence, prevalence, rng, count)[0]
    draws = []
    explored: dict[str, int] = {}
    for index in winners:
        name, value = arms[index]
        conditions = {c: str(rng.choice(list(values))) for c, values in vocabulary.items()}
        conditions[name] = value
        draws.append(conditions)
        explored[f"{name}={value}"] = explored.get(f"{name}={value}", 0) + 1
    reason = (
        f"exploring beat every aimed slice in {raw:.0%} of Thompson draws "
        f"({counts['confirmed']:g} confirmed, {counts['refuted']:g} refuted before)"
    )
    return Exploration(share, draws, dict(sorted(explored.items())), reason)


def _best_arm_values(
    arms: Sequence[tuple[str, str]],
    evidence: ConditionEvidence,
    prevalence: Mapping[str, Mapping[str, float]] | None,
    rng: np.random.Generator,
    draws: int,
) -> tuple[np.ndarray, np.ndarray]:
    """`draws` Thompson draws over `arms`: per draw, the winning arm's index and its value
    (sampled miss rate minus the overall miss rate, times its prevalence)."""
    seen = np.array([evidence.seen.get(c, {}).get(v, 0) for c, v in arms], dtype=float)
    missed = np.array([evidence.missed.get(c, {}).get(v, 0) for c, v in arms], dtype=float)
    # Every object is seen once per condition: any one condition's counts give the overall rate.
    first = next(iter(evidence.seen), "")
    objects = sum(evidence.seen.get(first, {}).values())
    overall = sum(evidence.missed.get(first, {}).values()) / objects if objects else 0.0
    weight = np.array([(prevalence or {}).get(c, {}).get(v, 1.0) for c, v in arms])
    samples = rng.beta(missed + 1, seen - missed + 1, (draws, len(arms)))
    values = (samples - overall) * weight
    winners = values.argmax(axis=1)
    return winners, values[np.arange(draws), winners]


def _slice_excess(failure: FailureSlice, rng: np.random.Generator, draws: int) -> np.ndarray:
    """Draws of an aimed slice's miss rate beyond what its objects are expected to miss."""
    missed = round(failure.support * (1 - failure.recall))
    expected_miss = 1 - (failure.recall + failure.deficit)
    return rng.beta(missed + 1, failure.support - missed + 1, draws) - expected_miss
