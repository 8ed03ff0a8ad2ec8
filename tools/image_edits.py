"""Image edits toward attribute targets: the strength of each edit (tools/image_edit_ops) searched
until the attribute measures in its range; one attribute by false position, several by Newton."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tools.image_attributes import PIXEL_MEASURES
from tools.image_edit_ops import EDITS, apply_edit, jpeg_edit

# Newton steps after the first pass, and the finite-difference step of each edit's Jacobian
# column as a share of its strength span.
NEWTON_STEPS = 8
DIFFERENCE_STEP = 0.01


@dataclass(frozen=True)
class EditFit:
    """Where a search for one attribute ended: the strength used and the value measured."""

    name: str
    strength: float
    value: float
    landed: bool


Finish = Callable[[np.ndarray], np.ndarray]


def _identity(image: np.ndarray) -> np.ndarray:
    return image


def fit_edit(
    image: np.ndarray,
    name: str,
    low: float,
    high: float,
    seed: int = 0,
    finish: Finish = _identity,
    steps: int = 12,
) -> tuple[np.ndarray, EditFit]:
    """The image edited so that attribute `name` measures in [low, high] (on `finish(image)`:
    the JPEG the file will hold, when one is asked), measured with discovery's own function.

    The strength is searched by safeguarded false position: each try aims at the middle of the
    range by interpolating between the strongest edit that fell short and the weakest that went
    past (the measured value is monotone in the strength), so a smooth attribute lands in 2-4
    tries. When the range is out of the edit's reach, the nearest it got (`landed` False)."""
    measure = PIXEL_MEASURES[name]
    spec = EDITS[name]
    aim = (low + high) / 2

    def miss(value: float) -> float:
        return max(low - value, value - high, 0.0)

    value = measure(finish(image))
    best = (miss(value), image, 0.0, value)
    if best[0] == 0.0:
        return image, EditFit(name, 0.0, value, True)
    rising = value < low  # below the range: stronger edits raise the value
    short, past = (0.0, value), (spec.highest if rising else spec.lowest, math.nan)
    strength = past[0]  # the far end first: if it falls short, no strength will do
    for _ in range(steps):
        edited = apply_edit(image, name, strength, seed)
        got = measure(finish(edited))
        if miss(got) < best[0]:
            best = (miss(got), edited, strength, got)
        if best[0] == 0.0:
            break
        fell_short = got < low if rising else got > high
        if fell_short and strength == past[0] and math.isnan(past[1]):
            break
        if fell_short:
            short = (strength, got)
        else:
            past = (strength, got)
        span = past[0] - short[0]
        share = (aim - short[1]) / (past[1] - short[1]) if past[1] != short[1] else 0.5
        strength = short[0] + span * float(np.clip(share, 0.1, 0.9))
    gap, edited, strength, got = best
    return edited, EditFit(name, strength, got, gap == 0.0)


@dataclass(frozen=True)
class EditResult:
    """An image edited toward targets: the pixels to save, the JPEG quality to save them at
    (None: a lossless file), and each attribute's fit measured on what the file will hold."""

    image: np.ndarray
    jpeg_quality: int | None
    fits: dict[str, EditFit]

    def decoded(self) -> np.ndarray:
        """The pixels the saved file decodes to."""
        return self.image if self.jpeg_quality is None else jpeg_edit(self.image, self.jpeg_quality)


def apply_edits(
    image: np.ndarray, names: Sequence[str], strengths: Sequence[float] | np.ndarray, seed: int = 0
) -> np.ndarray:
    """The named edits at their strengths, in the order given (EDITS' order in a search)."""
    for name, strength in zip(names, strengths, strict=True):
        if strength != 0:
            image = apply_edit(image, name, float(strength), seed)
    return image


def edit_toward(
    image: np.ndarray, targets: Mapping[str, tuple[float, float]], seed: int = 0
) -> EditResult:
    """Every pixel attribute of `targets` edited into its range, the edits applied once each to
    the original, in EDITS' order (each later edit disturbs the earlier attributes least).

    First one pass, each strength searched alone with the edits before it applied and those
    after it at their strengths so far; then, while some attribute is out, Newton steps on all
    the strengths together (a Jacobian by finite differences): attributes that move together
    (on a pale microscope slide, haze and brightness both follow any tone change) are reached
    by combining edits, which one-at-a-time passes circle around. A `jpeg_quality` target
    saves at the middle of its range, and every other attribute is measured through that JPEG.
    """
    quality = None
    finish: Finish = _identity
    if "jpeg_quality" in targets:
        low, high = targets["jpeg_quality"]
        quality = int(np.clip(round((low + high) / 2), 1, 100))

        def finish(pixels: np.ndarray) -> np.ndarray:
            return jpeg_edit(pixels, quality)

    names = [n for n in EDITS if n in targets]
    if not names:
        return EditResult(image, quality, {})
    lows = np.array([targets[n][0] for n in names], dtype=np.float64)
    highs = np.array([targets[n][1] for n in names], dtype=np.float64)
    widths = np.maximum(highs - lows, 1e-9)
    bounds = np.array([(EDITS[n].lowest, EDITS[n].highest) for n in names])
    strengths = _first_pass(image, names, lows, highs, seed, finish)

    def measured(at: np.ndarray) -> np.ndarray:
        pixels = finish(apply_edits(image, names, at, seed))
        return np.array([PIXEL_MEASURES[n](pixels) for n in names])

    def shortfall(values: np.ndarray) -> float:
        return float((np.maximum(np.maximum(lows - values, values - highs), 0) / widths).sum())

    values = measured(strengths)
    for _ in range(NEWTON_STEPS):
        if shortfall(values) == 0:
            break
        step = _newton_step(measured, strengths, values, bounds, (lows + highs) / 2)
        for _halving in range(4):  # damped: a step that does not help is halved
            trial = np.clip(strengths + step, bounds[:, 0], bounds[:, 1])
            trial_values = measured(trial)
            if shortfall(trial_values) < shortfall(values):
                strengths, values = trial, trial_values
                break
            step = step / 2
        else:
            break
    fits = {
        name: EditFit(
            name, float(strengths[k]), float(values[k]), bool(lows[k] <= values[k] <= highs[k])
        )
        for k, name in enumerate(names)
    }
    return EditResult(apply_edits(image, names, strengths, seed), quality, fits)


def _first_pass(
    image: np.ndarray,
    names: list[str],
    lows: np.ndarray,
    highs: np.ndarray,
    seed: int,
    finish: Finish,
) -> np.ndarray:
    """Each edit's strength searched alone, in order: the edits before it applied at their
    found strengths, those after it at their strengths so far (0), then `finish`."""
    strengths = np.zeros(len(names))
    for k, name in enumerate(names):
        before = apply_edits(image, names[:k], strengths[:k], seed)
        rest, after = names[k + 1 :], strengths[k + 1 :]

        def through_rest(
            pixels: np.ndarray, rest: list[str] = rest, after: np.ndarray = after
        ) -> np.ndarray:
            return finish(apply_edits(pixels, rest, after, seed))

        _, fit = fit_edit(before, name, lows[k], highs[k], seed, through_rest)
        strengths[k] = fit.strength
    return strengths


def _newton_step(
    measured: Callable[[np.ndarray], np.ndarray],
    strengths: np.ndarray,
    values: np.ndarray,
    bounds: np.ndarray,
    aims: np.ndarray,
) -> np.ndarray:
    """The strength change that a linear model of the attributes around `strengths` says
    lands every one at its range's middle (least squares where the edits cannot all)."""
    jacobian = np.zeros((len(strengths), len(strengths)))
    for j in range(len(strengths)):
        span = bounds[j, 1] - bounds[j, 0]
        h = DIFFERENCE_STEP * span
        if strengths[j] + h > bounds[j, 1]:
            h = -h
        moved = strengths.copy()
        moved[j] += h
        jacobian[:, j] = (measured(moved) - values) / h
    return np.linalg.lstsq(jacobian, aims - values, rcond=None)[0]
