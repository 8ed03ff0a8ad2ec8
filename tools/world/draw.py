"""Worlds drawn at random from a stated distribution, reproducible from a draw seed: a benchmark
of settings nobody tuned the planner on.

The distribution (`WorldDistribution`, its defaults stated here and written to sweep.json):
- field priors: per condition, a Dirichlet draw centred on the default world's priors (its
  parameters `concentration` x those priors: field data skewed the usual way, day and clear
  and sparse mostly, by varying amounts);
- rare conditions: per condition, with chance `rare_chance`, one value (uniformly chosen) gets a
  field share drawn uniformly from `rare_share` (a few percent) and the others share the rest in
  their Dirichlet proportions; every world has at least one rare value (if no condition drew
  one, one condition is chosen uniformly and made to);
- test: uniform over the vocabulary with chance `uniform_test_chance`, otherwise a deployment
  mix per condition, `deploy_floor` of uniform plus the rest of a flat Dirichlet draw (so no
  test slice is left with almost no objects);
- seed: a world seed drawn uniformly below 2**31 (its images and its baseline's training);
- val: drawn like the field (`val_from: field`), or like test (`deployment`: the same worlds
  with a labelled sample of the deployment as val; no random draw depends on it).

World `i` of draw seed `s` depends on `(s, i)` alone: `--worlds 8` then `--worlds 10` with the
same seed adds two worlds and keeps the first eight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from tools.vocabulary import CONDITIONS
from tools.world.config import DEFAULT_PRIORS, WorldConfig


class WorldDistribution(BaseModel):
    """Where random worlds come from (see the module docstring for how each part is used)."""

    concentration: float = Field(
        8.0, gt=0, description="Dirichlet concentration of field priors around the default's"
    )
    rare_chance: float = Field(0.5, ge=0, le=1, description="chance a condition has a rare value")
    rare_share: tuple[float, float] = Field(
        (0.02, 0.06), description="field share of a rare value, drawn uniformly in this range"
    )
    uniform_test_chance: float = Field(0.5, ge=0, le=1, description="chance the test is uniform")
    deploy_floor: float = Field(
        0.5, ge=0, le=1, description="share of uniform in a deployment mix's test priors"
    )
    val_from: Literal["field", "deployment"] = Field(
        "field",
        description="where each world's labelled val is drawn from: the field (like train, the "
        "default) or the deployment (like test: a user who labelled deployment images); the "
        "draw is otherwise the same",
    )


@dataclass(frozen=True)
class DrawnWorld:
    """One drawn world: its name in the sweep, its settings and the field values drawn rare."""

    name: str
    config: WorldConfig
    rare: tuple[str, ...]  # "condition=value" with a field share in `rare_share`


def draw_worlds(
    count: int, draw_seed: int, distribution: WorldDistribution | None = None
) -> list[DrawnWorld]:
    """`count` worlds of draw seed `draw_seed`, each a valid WorldConfig."""
    distribution = distribution or WorldDistribution()
    return [draw_world(index, draw_seed, distribution) for index in range(count)]


def draw_world(index: int, draw_seed: int, distribution: WorldDistribution) -> DrawnWorld:
    rng = np.random.default_rng([draw_seed, index])
    names = list(CONDITIONS)
    rare_conditions = [name for name in names if rng.random() < distribution.rare_chance]
    if not rare_conditions:
        rare_conditions = [names[int(rng.integers(len(names)))]]
    field: dict[str, dict[str, float]] = {}
    rare: list[str] = []
    for name, values in CONDITIONS.items():
        centre = np.array([DEFAULT_PRIORS[name][v] for v in values])
        shares = rng.dirichlet(distribution.concentration * centre)
        if name in rare_conditions:
            chosen = int(rng.integers(len(values)))
            low, high = distribution.rare_share
            share = float(rng.uniform(low, high))
            others = np.delete(shares, chosen)
            shares = np.insert(others / others.sum() * (1 - share), chosen, share)
            rare.append(f"{name}={values[chosen]}")
        field[name] = _rounded(values, shares)
    uniform_test = rng.random() < distribution.uniform_test_chance
    test: dict[str, dict[str, float]] = {}
    for name, values in CONDITIONS.items():
        mix = rng.dirichlet([1.0] * len(values))
        floor = distribution.deploy_floor
        test[name] = _rounded(values, floor / len(values) + (1 - floor) * mix)
    config = WorldConfig.model_validate(
        {
            "seed": int(rng.integers(2**31)),
            "conditions": field,
            "test_conditions": "uniform" if uniform_test else test,
            "val_conditions": "test" if distribution.val_from == "deployment" else "field",
        }
    )
    return DrawnWorld(f"world{index:02d}", config, tuple(rare))


def _rounded(values: tuple[str, ...], shares: np.ndarray) -> dict[str, float]:
    """Shares to four decimals for a readable world.yaml, the largest absorbing the rounding so
    that they still sum to 1."""
    rounded = [round(float(s), 4) for s in shares]
    largest = int(np.argmax(rounded))
    rounded[largest] = round(1 - sum(r for k, r in enumerate(rounded) if k != largest), 4)
    return dict(zip(values, rounded, strict=True))
