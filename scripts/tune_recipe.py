"""Try a training recipe on a workspace's field data: train from scratch, report seconds and test mAP50.

Usage: python scripts/tune_recipe.py WORKSPACE NAME EPOCHS ['{"lr0": 0.004, "cpu_channels_last": false}']
       [--precision fp32|bf16|auto] [--out DIR]

Exports train/val/test once to DIR/data, trains the detector with the given detector settings and
ultralytics overrides, and prints one JSON line: training seconds, images per second and
ultralytics' own test mAP50 / mAP50-95 of the boxes `predict` keeps (within about 0.002 of
failforge's FiftyOne figures). One run per call, so runs never share the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workspace", type=Path)
    parser.add_argument("name")
    parser.add_argument("epochs", type=int)
    parser.add_argument("overrides", nargs="?", default="{}")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    parser.add_argument("--out", type=Path, default=Path("tune-out"))
    args = parser.parse_args()

    from agent.bootstrap import build_deps, build_detector
    from agent.settings import Settings
    from agent.steps.predictions import export_items
    from storage.export import export_yolo
    from tools.detector.ultralytics_detector import UltralyticsDetector

    settings = Settings.load(args.workspace)
    data = args.out / "data" / "data.yaml"
    if not data.is_file():
        deps = build_deps(settings)
        export_yolo(
            data.parent,
            settings.classes,
            {s: export_items(deps, deps.datasets.split(s)) for s in ("train", "val", "test")},
        )
    overrides = json.loads(args.overrides)
    # Keys that name a detector setting (batch, cpu_channels_last, ...) change the setting; the
    # rest are ultralytics train arguments.
    fields = type(settings.detector).model_fields
    detector_settings = settings.detector.model_copy(
        update={
            **{k: overrides.pop(k) for k in list(overrides) if k in fields},
            "cpu_precision": args.precision,
        }
    )
    detector = build_detector(settings.model_copy(update={"detector": detector_settings}))
    assert isinstance(detector, UltralyticsDetector)  # the recipe tuned is ultralytics' own
    result = detector.train(data, args.out / "runs" / args.name, None, args.epochs, **overrides)
    metrics = detector.validate(result.weights, data, "test")
    print(
        json.dumps(
            {
                "name": args.name,
                "epochs": args.epochs,
                "precision": args.precision,
                **overrides,
                "train_seconds": round(result.seconds, 1),
                "images_per_second": round(result.images_per_second or 0.0, 1),
                **{f"test_{k}": round(v, 4) for k, v in metrics.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
