"""Times the demo world: scene rendering alone, and field images with camera and JPEG, 1,000 each.

Usage: python scripts/bench_world.py [--count 1000] [--size 160]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.world.config import WorldConfig
from tools.world.field import draw_conditions, render_field, scene_seed
from tools.world.render import render
from tools.world.sampler import sample_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=160)
    args = parser.parse_args()
    config = WorldConfig(image_size=args.size)
    import numpy as np

    specs = []
    for i in range(args.count):
        seed = scene_seed(config.seed, "test", i)
        specs.append(
            sample_scene(
                draw_conditions(config.priors("test"), np.random.default_rng(seed)), seed, args.size
            )
        )
    started = time.perf_counter()
    for spec in specs:
        render(spec)
    rendering = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        for _ in render_field(config, Path(folder), "test", count=args.count):
            pass
        field = time.perf_counter() - started
    print(f"render {args.count} scenes at {args.size} px (one core): {rendering:.2f} s")
    print(f"field images incl. sampling, camera and JPEG save: {field:.2f} s")


if __name__ == "__main__":
    main()
