"""Recall on `test` by object height (pixels), per model: is a slice's miss a matter of size?

Usage: python scripts/recall_by_size.py WORKSPACE [MODEL ...] [--slice distance=far]

Reads the models' stored test predictions and the ground truth from the workspace's FiftyOne
dataset; an object counts as found when a prediction of its class at the evaluation's
confidence threshold overlaps it at IoU 0.5 or more (`evaluation.slices.match_found`, the
matching discovery uses).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from agent.bootstrap import build_deps
from agent.settings import Settings
from evaluation.slices import match_found

BINS = (0, 8, 12, 16, 24, 32, 48, 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("models", nargs="*", help="model versions (default: every one)")
    parser.add_argument("--slice", default="distance=far", help="field=value, or 'all'")
    args = parser.parse_args()
    deps = build_deps(Settings.load(args.workspace))
    datasets, conf = deps.datasets, deps.settings.evaluation.conf_threshold
    view = datasets.split("test")
    if args.slice != "all":
        name, value = args.slice.split("=")
        view = datasets.where(view, f"world_{name}", value)
    truth = datasets.labels(view)
    heights = np.concatenate([t.xyxy[:, 3] - t.xyxy[:, 1] for t in truth])
    bins = np.digitize(heights, BINS[1:-1])
    models = args.models or [m.name for m in deps.registry.models()]
    header = [f"{BINS[i]}-{BINS[i + 1]}" for i in range(len(BINS) - 1)]
    print(f"{args.slice} on test: recall by object height (px) at confidence {conf}")
    print("| model | all | " + " | ".join(header) + " |")
    print("|---|---|" + "---|" * len(header))
    counts = [int(np.sum(bins == i)) for i in range(len(header))]
    print("| objects | " + f"{len(heights)} | " + " | ".join(map(str, counts)) + " |")
    classes = np.concatenate([t.class_id for t in truth])
    hit_by_model: dict[str, np.ndarray] = {}
    stored = set(datasets.field_names("pred_"))
    for model in (m for m in models if f"pred_{m}" in stored):
        if all(v is None for v in datasets.values(view, f"pred_{model}")):
            continue  # a candidate never predicted on test (rejected on val)
        predicted = datasets.labels(view, f"pred_{model}")
        hits = np.concatenate(
            [match_found(t, p, conf) for t, p in zip(truth, predicted, strict=True)]
        )
        cells = [f"{hits[bins == i].mean():.2f}" if counts[i] else "-" for i in range(len(header))]
        print(f"| {model} | {hits.mean():.3f} | " + " | ".join(cells) + " |")
        hit_by_model[model] = hits
    print(f"\n{args.slice} on test: recall by class and object height (px), per model")
    print("| model | class | objects | all | " + " | ".join(header) + " |")
    print("|---|---|---|---|" + "---|" * len(header))
    for model, hits in hit_by_model.items():
        for c, name in enumerate(datasets.classes):
            mine = classes == c
            cells = [
                f"{hits[mine & (bins == i)].mean():.2f}" if np.any(mine & (bins == i)) else "-"
                for i in range(len(header))
            ]
            print(
                f"| {model} | {name} | {int(mine.sum())} | {hits[mine].mean():.2f} | "
                + " | ".join(cells)
                + " |"
            )


if __name__ == "__main__":
    main()
