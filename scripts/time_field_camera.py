"""Seconds to estimate a workspace's field camera (done once, in its first cycle), median of runs.

Usage: python scripts/time_field_camera.py WORKSPACE [--repeats 5]

Estimates without storing (the workspace's field_camera.json is neither read nor written), and
prints each run's seconds, the median and the estimate, so two checkouts can be compared by
running this script from each, alternately, on one workspace.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from agent.bootstrap import build_deps
    from agent.settings import Settings
    from agent.steps.camera import estimate_field_camera

    deps = build_deps(Settings.load(args.workspace))
    seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        camera = estimate_field_camera(deps)
        seconds.append(time.perf_counter() - started)
    print("runs (s):", " ".join(f"{s:.2f}" for s in seconds))
    print(f"median: {statistics.median(seconds):.2f} s; estimate: {camera}")


if __name__ == "__main__":
    main()
