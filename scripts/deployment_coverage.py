"""How much of the deployment a field `val` can show: val recall weighted by the world's true
conditions (test share over val share per condition value, multiplied over conditions), with
its effective number of objects, per model of a benchmark arm.

A diagnostic of the benchmark, never of the product: it reads the rendered world's condition
tags, which the loop never sees. It bounds what any re-weighting of `val` (the gate's
`objective: deployment`) can do: with the true weights, how many objects carry the estimate,
and does it move with the models the way `test` does?

    .venv/bin/python scripts/deployment_coverage.py SWEEP/world00/seed*/uniform v1,v2,v3
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

SETS = {
    "all four": ("lighting", "weather", "distance", "crowding"),
    "lighting, weather": ("lighting", "weather"),
    "distance, crowding": ("distance", "crowding"),
}


def main() -> None:
    from agent.bootstrap import build_deps
    from agent.settings import Settings
    from agent.steps.failures import val_object_table
    from evaluation.deployment_objective import effective_objects

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("arm", type=Path, help="a benchmark arm's workspace")
    parser.add_argument("models", help="comma-separated models, e.g. v1,v2,v3")
    args = parser.parse_args()
    deps = build_deps(Settings.load(args.arm))
    models = args.models.split(",")

    def tags(split: str) -> tuple[dict[str, dict[str, str]], int]:
        view = deps.datasets.split(split)
        ids = [s.id for s in deps.datasets.samples(view)]
        names = SETS["all four"]
        return {c: dict(zip(ids, view.values(f"world_{c}"), strict=True)) for c in names}, len(ids)

    val, val_n = tags("val")
    test, test_n = tags("test")
    ratio = {}
    for name in SETS["all four"]:
        seen, wanted = Counter(val[name].values()), Counter(test[name].values())
        k = len(set(seen) | set(wanted))
        ratio[name] = {
            v: ((wanted[v] + 1) / (test_n + k)) / ((seen[v] + 1) / (val_n + k))
            for v in set(seen) | set(wanted)
        }
    tables = {m: val_object_table(deps, m) for m in models}
    first = tables[models[0]]
    for label, names in SETS.items():
        weights = np.array(
            [np.prod([ratio[c][val[c][sid]] for c in names]) for sid in first.sample_ids]
        )
        recalls = "  ".join(
            f"{m} {float(weights @ tables[m].found / weights.sum()):.3f}" for m in models
        )
        print(
            f"{label:<20} {effective_objects(weights):4.0f} effective of {len(weights)} "
            f"val objects; weighted recall {recalls}"
        )


if __name__ == "__main__":
    main()
