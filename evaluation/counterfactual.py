"""Counterfactual checks of a hypothesis: recovery of misses under an edit against a placebo, and the verdict.

The same missed objects are edited twice (the blamed factor removed; a placebo of the same
strength on an attribute not blamed), so the two recovery rates are paired proportions: each
miss is recovered by both edits, one, or neither. Their difference gets Newcombe's interval for
paired proportions (method 10 of Newcombe 1998, Stat Med 17:2635: Wilson score intervals of the
two rates, squared and added with the correlation between them). It is the paired version of
the hybrid score interval: valid for the few dozen misses a slice holds, never outside [-1, 1],
and not degenerate at 0 or 1 recovered, where a Wald interval would claim a point.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, computed_field
from scipy import stats

Verdict = Literal["supported", "not supported", "undecided"]
# A blamed factor whose removal recovers fewer than this share of misses beyond the placebo
# does not explain the slice: "not supported" needs the whole interval below it, since no
# number of misses proves an effect of exactly 0.
SMALL_EFFECT = 0.2
# An edit that loses more than this share of the slice's detected objects (its upper bound
# says so with confidence) broke the image, not the cause: its recoveries are not evidence.
MAX_CONTROL_LOSS = 0.2


class ProportionInterval(BaseModel):
    """A share of `n` with its Wilson score interval."""

    count: int
    n: int
    rate: float | None = Field(description="count / n; None when n is 0")
    low: float
    high: float


class DifferenceInterval(BaseModel):
    """A difference of two paired shares with Newcombe's interval, and the 2x2 table behind it."""

    difference: float
    low: float
    high: float
    level: float = 0.95
    both: int = Field(description="misses recovered by the edit and by the placebo")
    edit_only: int
    placebo_only: int
    neither: int


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson(count: int, n: int, level: float = 0.95) -> ProportionInterval:
    """Wilson's score interval for `count` of `n`; n = 0 gives the whole of [0, 1]."""
    if n == 0:
        return ProportionInterval(count=0, n=0, rate=None, low=0.0, high=1.0)
    z = _z(level)
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return ProportionInterval(
        count=count, n=n, rate=p, low=max(0.0, centre - half), high=min(1.0, centre + half)
    )


def _phi(both: int, edit_only: int, placebo_only: int, neither: int) -> float:
    """Newcombe's correlation between the two rates, its positive part shrunk by n/2 (as in his
    method 10) so that a table with little association is treated as independent."""
    n = both + edit_only + placebo_only + neither
    margins = (
        (both + edit_only)
        * (placebo_only + neither)
        * (both + placebo_only)
        * (edit_only + neither)
    )
    if margins == 0:
        return 0.0
    a = both * neither - edit_only * placebo_only
    if a > n / 2:
        return (a - n / 2) / math.sqrt(margins)
    return 0.0 if a >= 0 else a / math.sqrt(margins)


def newcombe_paired(
    edit: np.ndarray, placebo: np.ndarray, level: float = 0.95
) -> DifferenceInterval:
    """Rate of `edit` minus rate of `placebo` (boolean per object, same objects in the same
    order) with Newcombe's paired square-and-add interval."""
    edit, placebo = np.asarray(edit, bool), np.asarray(placebo, bool)
    if edit.shape != placebo.shape or edit.size == 0:
        raise ValueError("a paired difference needs the same objects, at least one, in both arms")
    both = int((edit & placebo).sum())
    edit_only = int((edit & ~placebo).sum())
    placebo_only = int((~edit & placebo).sum())
    neither = int((~edit & ~placebo).sum())
    n = edit.size
    p1, p2 = (both + edit_only) / n, (both + placebo_only) / n
    first, second = wilson(both + edit_only, n, level), wilson(both + placebo_only, n, level)
    phi = _phi(both, edit_only, placebo_only, neither)
    d1_low, d1_high = p1 - first.low, first.high - p1
    d2_low, d2_high = p2 - second.low, second.high - p2
    low = p1 - p2 - math.sqrt(max(0.0, d1_low**2 - 2 * phi * d1_low * d2_high + d2_high**2))
    high = p1 - p2 + math.sqrt(max(0.0, d2_low**2 - 2 * phi * d2_low * d1_high + d1_high**2))
    return DifferenceInterval(
        difference=p1 - p2,
        low=low,
        high=high,
        level=level,
        both=both,
        edit_only=edit_only,
        placebo_only=placebo_only,
        neither=neither,
    )


class EditArm(BaseModel):
    """One edit applied to a slice's objects: what it changed and what the incumbent found after."""

    attribute: str = Field(description="the attribute edited (the blamed one, or the placebo's)")
    how: str = Field(description="the edit in words, e.g. 'brightness raised to 70-110'")
    strength: float = Field(
        description="how far the edit moved its attribute, as the share of val objects it "
        "passed (mean over the edited images): the placebo is matched to the edit on it"
    )
    recovered: ProportionInterval = Field(description="misses found after the edit")
    lost: ProportionInterval | None = Field(
        None, description="detected objects of the slice not found after the edit (the control)"
    )
    landed: float = Field(1.0, description="share of edited images whose attribute hit its target")


class FactorCheck(BaseModel):
    """The check of one blamed factor of one hypothesis: edit against placebo, and the verdict."""

    slice_name: str
    attribute: str = Field(description="the blamed attribute, e.g. brightness")
    blamed: str = Field(description="what the hypothesis blames, e.g. 'brightness=lowest'")
    edit: EditArm | None = None
    placebo: EditArm | None = None
    difference: DifferenceInterval | None = None
    verdict: Verdict
    reason: str = Field(description="the verdict in one sentence, with its figures")
    strip: str | None = Field(
        None,
        description="a PNG of a few edited misses: originals above, edits below, framed green "
        "where found after the edit and red where still missed (relative to the workspace "
        "folder when the loop's step wrote it); None when no miss was edited",
    )


class HypothesisCheck(BaseModel):
    """Every blamed factor of one hypothesis, checked."""

    slice_name: str
    factors: list[FactorCheck] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Verdict:
        """Supported if any factor is, not supported if every factor is not, else undecided."""
        verdicts = {f.verdict for f in self.factors}
        if "supported" in verdicts:
            return "supported"
        if verdicts == {"not supported"}:
            return "not supported"
        return "undecided"


class CounterfactualResult(BaseModel):
    """A cycle's counterfactual checks: one per hypothesis, each factor with its verdict."""

    loop_id: str
    cycle: int
    incumbent: str = Field(description="the model whose misses were edited and re-run")
    checks: list[HypothesisCheck] = Field(default_factory=list)
    seconds: float = Field(0.0, description="wall time of the whole step")

    def verdicts(self) -> dict[str, str]:
        """Slice name -> the hypothesis's verdict (what planning and the reviewer read)."""
        return {check.slice_name: check.verdict for check in self.checks}

    def lines(self) -> list[VerdictLine]:
        """One line per checked factor with its figures, for the reviewer (payload, panel,
        status and report)."""
        return [
            VerdictLine(
                slice=check.slice_name,
                hypothesis=check.verdict,
                blamed=factor.blamed,
                verdict=factor.verdict,
                edit_recovered=factor.edit.recovered.rate if factor.edit else None,
                placebo_recovered=factor.placebo.recovered.rate if factor.placebo else None,
                misses=factor.edit.recovered.n if factor.edit else 0,
                difference=factor.difference.difference if factor.difference else None,
                low=factor.difference.low if factor.difference else None,
                high=factor.difference.high if factor.difference else None,
                reason=factor.reason,
                strip=factor.strip,
            )
            for check in self.checks
            for factor in check.factors
        ]


class VerdictLine(BaseModel):
    """One checked factor as a reviewer reads it: share of misses found after the edit and
    after the placebo, the difference with its 95% interval, and the verdicts."""

    slice: str
    hypothesis: Verdict = Field(description="the verdict on the whole hypothesis")
    blamed: str = Field(description="the factor checked, as the hypothesis put it")
    verdict: Verdict = Field(description="the verdict on this factor")
    edit_recovered: float | None = Field(description="share of misses found after the edit")
    placebo_recovered: float | None = Field(description="share found after the placebo")
    misses: int = Field(description="misses edited (0: the factor was not checked)")
    difference: float | None
    low: float | None
    high: float | None
    reason: str
    strip: str | None = Field(
        None,
        description="before/after strip of a few edited misses (PNG, relative to the workspace "
        "folder); None when no miss was edited",
    )

    def text(self) -> str:
        """The line in words: `slice (blamed): verdict, edit 40% vs placebo 5% (+0.35, ...)`."""
        head = f"{self.slice} ({self.blamed or 'nothing blamed'}): {self.verdict}"
        if self.difference is None or self.low is None or self.high is None:
            return f"{head}: {self.reason}"
        return (
            f"{head}: {self.edit_recovered or 0:.0%} of {self.misses} misses found after the "
            f"edit vs {self.placebo_recovered or 0:.0%} after the placebo "
            f"(difference {self.difference:+.2f}, 95% CI {self.low:+.2f} to {self.high:+.2f})"
        )


def decide(
    slice_name: str,
    attribute: str,
    blamed: str,
    edit: EditArm,
    placebo: EditArm,
    edit_found: np.ndarray,
    placebo_found: np.ndarray,
    small_effect: float = SMALL_EFFECT,
) -> FactorCheck:
    """The verdict on one factor from the misses each edit recovered (same misses, same order).

    Supported: the interval of edit minus placebo lies above 0. Not supported: it lies below
    `small_effect` (removing the factor recovers no more than a small share beyond the placebo).
    Undecided otherwise, and whenever the edit lost the slice's detected objects."""
    difference = newcombe_paired(edit_found, placebo_found)
    figures = (
        f"{edit.recovered.count}/{edit.recovered.n} misses found after the {attribute} edit, "
        f"{placebo.recovered.count}/{placebo.recovered.n} after the {placebo.attribute} placebo "
        f"(difference {difference.difference:+.2f}, 95% CI {difference.low:+.2f} to "
        f"{difference.high:+.2f})"
    )
    verdict: Verdict
    if edit.lost is not None and edit.lost.low > MAX_CONTROL_LOSS:
        verdict = "undecided"
        reason = (
            f"the edit lost {edit.lost.count}/{edit.lost.n} detected objects, so its recoveries "
            f"are not evidence; {figures}"
        )
    elif difference.low > 0:
        verdict, reason = "supported", figures
    elif difference.high < small_effect:
        verdict = "not supported"
        reason = f"{figures}: below the {small_effect:.0%} an explanation must recover"
    else:
        verdict = "undecided"
        reason = f"{figures}: too few misses to tell"
    return FactorCheck(
        slice_name=slice_name,
        attribute=attribute,
        blamed=blamed,
        edit=edit,
        placebo=placebo,
        difference=difference,
        verdict=verdict,
        reason=reason,
    )


def unchecked(slice_name: str, attribute: str, blamed: str, why: str) -> FactorCheck:
    """A factor that could not be checked, saying why (no edit for it, no misses in the slice)."""
    return FactorCheck(
        slice_name=slice_name, attribute=attribute, blamed=blamed, verdict="undecided", reason=why
    )
