"""How well the field-condition estimates (the `generic` arm's reading of field images) agree with truth.

Usage: python scripts/calibrate_field_conditions.py [--world world.yaml] [--images 400]
Renders field images of a world, prints per condition the statistics of each true value and
the estimate's agreement (a confusion table), so the thresholds in
evaluation/field_conditions.py can be read off and checked.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.field_conditions import estimate_field_conditions  # noqa: E402
from evaluation.slices import image_statistics  # noqa: E402
from tools.convert import make_detections  # noqa: E402
from tools.world.config import read_world  # noqa: E402
from tools.world.field import render_field  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", type=Path, default=None)
    parser.add_argument("--images", type=int, default=400)
    args = parser.parse_args()
    world = read_world(args.world)
    with tempfile.TemporaryDirectory() as folder:
        images = [
            i for i in render_field(world, Path(folder), "test", count=args.images) if len(i.boxes)
        ]
        labels = [make_detections(i.boxes, i.class_ids) for i in images]
        estimates = estimate_field_conditions(
            [str(i.path) for i in images], [world.image_size] * len(images), labels
        )
        truth = [i.conditions.model_dump() for i in images]
        stats = [image_statistics(str(i.path)) for i in images]
    for condition in ("lighting", "weather", "distance", "crowding"):
        agree = np.mean(
            [e[condition] == t[condition] for e, t in zip(estimates, truth, strict=True)]
        )
        print(f"\n{condition}: estimate agrees with truth on {agree:.0%} of {len(images)} images")
        for value in sorted({t[condition] for t in truth}):
            rows = [k for k, t in enumerate(truth) if t[condition] == value]
            said = Counter(estimates[k][condition] for k in rows)
            medians = {
                name: float(np.median([stats[k][name] for k in rows]))
                for name in ("brightness", "sharpness", "specks", "streaks", "haze")
            }
            print(
                f"  true {value:7s} n={len(rows):3d} estimated {dict(said)}  "
                + " ".join(f"{k}={v:.3g}" for k, v in medians.items())
            )


if __name__ == "__main__":
    main()
