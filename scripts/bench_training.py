"""Training throughput (images per second) under CPU thread, worker and cache settings, side by side.

Usage: python scripts/bench_training.py WORKSPACE [--epochs 3] [--repeats 3] [--variants a,b,...]

Exports the workspace's field `train`/`val` once, then fine-tunes its incumbent (v1) for a few
epochs per variant, each in a fresh process, variants interleaved round by round so that the
machine's noise falls on all of them alike. Throughput is taken over each run's epochs after the
first (caches are warm then), and reported as the median over repeats; ratios are against
`ultralytics` (one thread, no workers, no cache: what ultralytics does on CPU by itself).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# name: (torch threads or None for every core, dataloader workers, cache in RAM, overrides: detector
# settings where the key is one, else ultralytics train arguments). Unless a variant says otherwise,
# a run trains in float32 with contiguous (NCHW) weights, as ultralytics does on a CPU by itself.
VARIANTS: dict[str, tuple[int | None, int, bool, dict]] = {
    "ultralytics": (1, 0, False, {}),
    "all-cores": (None, 0, False, {}),
    "all-cores+cache": (None, 0, True, {}),
    "all-cores+cache+bf16": (None, 0, True, {"cpu_precision": "bf16"}),
    "all-cores+bf16": (None, 0, False, {"cpu_precision": "bf16"}),
    "all-cores+bf16+channels-last": (
        None,
        0,
        False,
        {"cpu_precision": "bf16", "cpu_channels_last": True},
    ),
    "all-cores+channels-last": (None, 0, False, {"cpu_channels_last": True}),
    "all-cores+cache+1-worker": (None, 1, True, {}),
    "all-cores+1-worker": (None, 1, False, {}),
    "all-cores+cache+freeze10": (None, 0, True, {"freeze": 10}),
    "all-cores+cache+compile": (None, 0, True, {"compile": True}),
    "all-cores+cache+batch32": (None, 0, True, {"batch": 32}),
}


def run_one(workspace: Path, data_yaml: Path, out: Path, variant: str, epochs: int) -> dict:
    """Train in this process (called in a child) and return the figures as a dict."""
    from agent.bootstrap import build_detector
    from agent.settings import Settings

    settings = Settings.load(workspace)
    threads, workers, cache, overrides = VARIANTS[variant]
    fields = type(settings.detector).model_fields
    detector_settings = settings.detector.model_copy(
        update={
            "cpu_precision": "fp32",
            "cpu_channels_last": False,
            **{k: v for k, v in overrides.items() if k in fields},
            "cpu_workers": workers,
            "device": "cpu",
            "threads": threads,
            "cache": cache,
        }
    )
    detector = build_detector(settings.model_copy(update={"detector": detector_settings}))
    extra = {k: v for k, v in overrides.items() if k not in fields}
    result = detector.train(
        data_yaml, out, workspace / "models" / "v1" / "weights.pt", epochs, **extra
    )
    warm = result.epoch_seconds[1:] or result.epoch_seconds
    return {
        "variant": variant,
        "threads": result.threads,
        "images": result.train_images,
        "epoch_seconds": result.epoch_seconds,
        "images_per_second": result.train_images * len(warm) / sum(warm),
        "wall_seconds": result.seconds,
    }


def export(workspace: Path, folder: Path) -> Path:
    from agent.bootstrap import build_deps
    from agent.settings import Settings
    from agent.steps.predictions import export_items
    from storage.export import export_yolo

    deps = build_deps(Settings.load(workspace))
    return export_yolo(
        folder,
        deps.settings.classes,
        {
            "train": export_items(deps, deps.datasets.split("train")),
            "val": export_items(deps, deps.datasets.split("val")),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    if args.child:
        data_yaml, out, variant = args.child
        print(json.dumps(run_one(workspace, Path(data_yaml), Path(out), variant, args.epochs)))
        return
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if not (workspace / "models" / "v1" / "weights.pt").is_file():
        parser.error(f"{workspace} has no model v1; run `failforge baseline -w {workspace}` first")
    figures: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        data_yaml = export(workspace, Path(tmp) / "data")
        for round_ in range(args.repeats):
            for variant in variants:
                child = [sys.executable, __file__, str(workspace), "--epochs", str(args.epochs)]
                child += [
                    "--child",
                    str(data_yaml),
                    str(Path(tmp) / f"{variant}-{round_}"),
                    variant,
                ]
                done = subprocess.run(child, check=True, capture_output=True, text=True)
                figure = json.loads(done.stdout.strip().splitlines()[-1])
                figures[variant].append(figure)
                print(
                    f"round {round_ + 1} {variant:28s} {figure['images_per_second']:6.1f} img/s "
                    f"threads={figure['threads']} epochs={figure['epoch_seconds']}",
                    file=sys.stderr,
                )
    base = statistics.median(f["images_per_second"] for f in figures[variants[0]])
    print(f"{'variant':28s} {'threads':>7s} {'img/s (median)':>15s} {'vs ' + variants[0]:>16s}")
    for variant in variants:
        rate = statistics.median(f["images_per_second"] for f in figures[variant])
        threads = figures[variant][0]["threads"]
        print(f"{variant:28s} {threads:7d} {rate:15.1f} {rate / base:15.2f}x")


if __name__ == "__main__":
    main()
