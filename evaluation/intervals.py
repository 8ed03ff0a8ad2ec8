"""Intervals over a few paired per-seed differences: Student's t, undecided claims, seeds needed.

Why a t-interval and not a bootstrap: with three seeds a percentile bootstrap has ten distinct
resamples and its interval is far too narrow (on normal differences it covers the true mean
about 76% of the time at n = 3 and 83% at n = 5, not 95%); the t-interval is exact for normal
differences at any n >= 2, and seed-to-seed differences of a recall are close to normal. A
hierarchical bootstrap (seeds, then `test` images within each) would also carry the test
split's own sampling noise, but bench.json keeps no per-image results, and with three seeds
its outer level has the same ten resamples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats


class Interval(BaseModel):
    """A mean difference with its two-sided interval, and the differences it was computed from."""

    mean: float
    low: float | None = Field(description="None with one difference: one point gives no spread")
    high: float | None
    level: float = 0.95
    differences: list[float] = Field(description="the paired per-seed differences, in seed order")

    @property
    def decided(self) -> bool:
        """True when the interval lies wholly above or below 0."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def t_interval(differences: Sequence[float], level: float = 0.95) -> Interval:
    """Mean of `differences` and Student's t interval at `level` (n - 1 degrees of freedom).

    Never clamped: the interval is mean +- t * sd / sqrt(n), whatever it holds. One difference
    gives a mean and no interval; identical differences give a point interval.
    """
    values = np.asarray(differences, dtype=float)
    if values.size == 0:
        raise ValueError("an interval needs at least one difference")
    mean = float(values.mean())
    if values.size == 1:
        return Interval(mean=mean, low=None, high=None, level=level, differences=values.tolist())
    margin = _t(level, values.size - 1) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return Interval(
        mean=mean,
        low=mean - margin,
        high=mean + margin,
        level=level,
        differences=values.tolist(),
    )


def seeds_to_decide(differences: Sequence[float], level: float = 0.95) -> int | None:
    """The fewest seeds whose t-interval would exclude 0 if more seeds kept the observed mean
    and sd: the smallest n with t(level, n - 1) * sd / sqrt(n) < |mean|.

    A planning figure, not a promise (the next seeds' mean and sd will differ). None where it
    cannot be said: fewer than two differences (no sd), or a mean of exactly 0.
    """
    values = np.asarray(differences, dtype=float)
    if values.size < 2:
        return None
    mean, sd = abs(float(values.mean())), float(values.std(ddof=1))
    if mean == 0:
        return None
    if sd == 0:
        return int(values.size)
    n = 2
    # t shrinks toward z as n grows, so n >= (z * sd / mean)^2 bounds the search from below.
    n = max(n, math.floor((_t(level, 10_000) * sd / mean) ** 2))
    while _t(level, n - 1) * sd / math.sqrt(n) >= mean:
        n += 1
    return n


def verdict(interval: Interval) -> str:
    """'above 0', 'below 0', or 'undecided' (the interval holds 0, or there is none)."""
    if interval.low is not None and interval.low > 0:
        return "above 0"
    if interval.high is not None and interval.high < 0:
        return "below 0"
    return "undecided"


def _t(level: float, freedom: int) -> float:
    return float(stats.t.ppf(0.5 + level / 2, freedom))
