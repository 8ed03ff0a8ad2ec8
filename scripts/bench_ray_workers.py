"""How a cycle's generation time falls with Ray workers: measured for 1..N local workers, projected beyond.

Generates one batch (the default 150 images, the procedural generator at the detector's image
size) in the loop's own process and over a local Ray cluster with 1, 2, ... workers, several
times each, and reports the median seconds. From the in-process per-image time and the
measured fan-out overhead it projects the time for more workers (GPU workers each running a
diffusers model are the case this is for: put that backend's per-image time in
`--per-image`).

    .venv/bin/python scripts/bench_ray_workers.py [--images 150] [--repeats 3] [--max-workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from agent.bootstrap import build_generator
from agent.settings import Settings
from tools.generator.base import GenerationRequest
from tools.generator.procedural import ProceduralGenerator

REPO = Path(__file__).resolve().parents[1]
CONDITIONS = {"lighting": "night", "weather": "fog", "distance": "far", "crowding": "dense"}


def requests(count: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(id=f"r{i}", slice_name="s", prompt="p", conditions=CONDITIONS, seed=i)
        for i in range(count)
    ]


def timed(generate: object, batch: list[GenerationRequest], size: int, repeats: int) -> float:
    """Median seconds of `repeats` generations of the batch, each into a fresh folder."""
    seconds = []
    for _ in range(repeats):
        out = Path(tempfile.mkdtemp(prefix="ff-ray-"))
        started = time.perf_counter()
        images, failed = generate(batch, out, size)  # type: ignore[operator]
        seconds.append(time.perf_counter() - started)
        assert len(images) == len(batch) and not failed, failed
        shutil.rmtree(out)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=150)
    parser.add_argument("--size", type=int, default=None, help="default: the detector's imgsz")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--per-image", type=float, default=None, help="seconds per image to project with"
    )
    args = parser.parse_args()
    import ray

    batch = requests(args.images)
    args.size = args.size or Settings(workspace=Path(tempfile.mkdtemp())).detector.imgsz
    local = timed(ProceduralGenerator().generate, batch, args.size, args.repeats)
    rows = [("in process", local)]
    ray.init(
        num_cpus=args.max_workers,
        include_dashboard=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    try:
        for workers in range(1, args.max_workers + 1):
            settings = Settings(
                workspace=Path(tempfile.mkdtemp()),
                execution={"backend": "ray", "workers": workers},
            )
            generator = build_generator(settings)
            generator.generate(batch[:workers], Path(tempfile.mkdtemp()), args.size)  # warm up
            rows.append(
                (
                    f"ray, {workers} worker(s)",
                    timed(generator.generate, batch, args.size, args.repeats),
                )
            )
    finally:
        ray.shutdown()
    print(
        f"{args.images} images at {args.size} px, median of {args.repeats} (cores: {os.cpu_count()})"
    )
    print(f"{'where':<22}{'seconds':>9}{'images/s':>10}")
    for name, seconds in rows:
        print(f"{name:<22}{seconds:>9.2f}{args.images / seconds:>10.1f}")
    # t(N) = overhead + per_image * images / N, with the overhead read off one worker.
    per_image = args.per_image or local / args.images
    overhead = max(0.0, rows[1][1] - local) if args.per_image is None else 0.0
    print(f"\nprojected (per image {per_image:.3f} s, fan-out overhead {overhead:.2f} s):")
    for workers in (1, 2, 4, 8, 16):
        seconds = overhead + per_image * args.images / workers
        print(f"{workers:>3} workers: {seconds:8.1f} s")


if __name__ == "__main__":
    main()
