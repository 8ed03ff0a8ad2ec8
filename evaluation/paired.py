"""Paired per-object evidence on val: standard errors of recall differences, p-values, Holm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np


def z(confidence: float) -> float:
    """The standard normal quantile at `confidence` (one-sided)."""
    return NormalDist().inv_cdf(confidence)


def paired_error(
    before_found: Mapping[str, Sequence[bool]],
    after_found: Mapping[str, Sequence[bool]],
    slices: Sequence[str],
    weights: Mapping[str, Sequence[float]] | None = None,
) -> float:
    """Standard error of the mean over `slices` of the per-object recall differences (paired:
    the same objects on both models). Infinite where the objects were not recorded.

    A slice in `weights` has a weight per object (a weighted recall, e.g. val weighted to the
    deployment): its difference is the ratio estimate sum(w d) / sum(w), whose variance is
    n / (n - 1) * sum(w^2 (d - D)^2) / sum(w)^2 (linearised); with equal weights it is the
    unweighted var(d) / n. Uneven weights widen it, as the fewer effective objects should.
    """
    weights = weights or {}
    variances = []
    for name in slices:
        before = np.asarray(before_found.get(name, []), dtype=float)
        after = np.asarray(after_found.get(name, []), dtype=float)
        if len(before) == 0 or len(before) != len(after):
            return float("inf")
        differences = after - before
        if name not in weights or len(differences) == 1:
            variances.append(
                differences.var(ddof=1) / len(differences) if len(differences) > 1 else 1.0
            )
            continue
        each = np.asarray(weights[name], dtype=float)
        if len(each) != len(differences):
            return float("inf")
        mean = float(np.sum(each * differences) / np.sum(each))
        spread = float(np.sum(each**2 * (differences - mean) ** 2) / np.sum(each) ** 2)
        variances.append(spread * len(differences) / (len(differences) - 1))
    return float(np.sqrt(sum(variances)) / len(variances)) if variances else float("inf")


def p_fell(drop: float, error: float) -> float:
    """One-sided p-value of "the recall fell" from a paired drop and its standard error."""
    if np.isnan(drop) or not np.isfinite(error):
        return 1.0  # not measured on the candidate, or objects not recorded: no evidence
    if error == 0:
        return 0.0 if drop > 0 else 1.0
    return 1 - NormalDist().cdf(drop / error)


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's adjusted p-values: reject a hypothesis at family-wise rate a when its adjusted
    p-value is at most a (step-down: the k-th smallest is scaled by m - k + 1, kept monotone)."""
    ordered = sorted(p_values, key=lambda name: p_values[name])
    adjusted, running = {}, 0.0
    for rank, name in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p_values[name]))
        adjusted[name] = running
    return adjusted
