"""Score the same synthetic batch rendered clean and through the field camera: *unrealistic* and
the real-vs-synthetic classifier's accuracy, side by side.

    python scripts/bench_realism.py WORKSPACE [--model v1] [--images 150] [--seeds 0,1,2]
        [--conditions field|uniform]

Each seed draws `--images` requests, their conditions from the field's distribution (the
world's, so the batch differs from the field images only in how it is rendered) or uniform
over the vocabulary, and renders them three times with the procedural generator: clean
(`realism` 0), through the camera the loop estimated from the field images
(`field_camera.json`, `realism` 1), and through the world's true camera (a reference only the
demo world has). Each batch is scored as `score_batch_quality` scores one: MODEL's embeddings of a
sample of the field's `train` images and of the batch, a cross-validated real-vs-synthetic
classifier. *unrealistic* is the mean probability it gives synthetic images of being
synthetic; accuracy is its share of images (real and synthetic) put on the right side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--model", default="v1", help="whose embeddings the classifier reads")
    parser.add_argument("--images", type=int, default=150)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--conditions", choices=("field", "uniform"), default="field")
    args = parser.parse_args()

    from agent.bootstrap import build_deps
    from agent.settings import Settings
    from agent.steps.batches import real_sample_paths
    from agent.steps.camera import field_camera
    from evaluation.quality import label_quality
    from tools.generator.base import GenerationRequest
    from tools.generator.procedural import ProceduralGenerator
    from tools.vocabulary import CONDITIONS
    from tools.world.config import read_world

    deps = build_deps(Settings.load(args.workspace.resolve()))
    record = deps.registry.model(args.model)
    if record is None:
        sys.exit(f"{args.workspace} has no model {args.model}; name one of its models (--model).")
    weights, settings = Path(record.path), deps.settings
    world = read_world(deps.workspace.root / "world.yaml")
    cameras = {"clean": None, "camera": field_camera(deps), "true camera": world.camera}
    shares = {
        name: (
            list(values),
            [world.conditions[name][v] for v in values]
            if args.conditions == "field"
            else [1 / len(values)] * len(values),
        )
        for name, values in CONDITIONS.items()
    }
    real_paths = real_sample_paths(deps)
    real = deps.detector.embed(weights, real_paths)
    print(f"estimated camera: {cameras['camera']}\nworld's camera:   {world.camera}")
    print(f"{len(real_paths)} real train images, {args.images} synthetic per batch, {args.model}")
    rows: dict[str, list[tuple[float, float]]] = {kind: [] for kind in cameras}
    for seed in (int(s) for s in args.seeds.split(",")):
        draw = np.random.default_rng(1000 + seed)
        requests = [
            GenerationRequest(
                id=f"r{seed}-{k:04d}",
                slice_name="uniform",
                prompt="",
                conditions={n: str(draw.choice(v, p=p)) for n, (v, p) in shares.items()},
                seed=10_000 * seed + k,
            )
            for k in range(args.images)
        ]
        for kind, camera in cameras.items():
            realism = 0.0 if camera is None else 1.0
            batch = [r.model_copy(update={"realism": realism}) for r in requests]
            with tempfile.TemporaryDirectory() as folder:
                made, failed = ProceduralGenerator(camera).generate(
                    batch, Path(folder), settings.detector.imgsz
                )
                if failed:
                    sys.exit(f"{len(failed)} requests failed to render: {failed}")
                synthetic = deps.detector.embed(weights, [m.path for m in made])
            quality = label_quality(real, synthetic, settings.detector.seed)
            unrealistic = float(quality[len(real) :].mean())
            accuracy = float((quality > 0.5).mean())
            rows[kind].append((unrealistic, accuracy))
            print(f"seed {seed} {kind:11s}: unrealistic {unrealistic:.3f}, accuracy {accuracy:.3f}")
    print("\n| rendering | unrealistic (median) | classifier accuracy (median) | per seed |")
    print("|---|---|---|---|")
    for kind, values in rows.items():
        per_seed = ", ".join(f"{u:.3f} / {a:.3f}" for u, a in values)
        print(
            f"| {kind} | {statistics.median(u for u, _ in values):.3f} | "
            f"{statistics.median(a for _, a in values):.3f} | {per_seed} |"
        )


if __name__ == "__main__":
    main()
