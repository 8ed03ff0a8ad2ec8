"""Time a model's test evaluation with its world slices: one FiftyOne evaluation per slice against
slices read from one pass of per-image matches (what `evaluate_split` does), side by side.

    python scripts/bench_slice_evaluation.py WORKSPACE MODEL [--repeats 3]

MODEL's predictions on test must be stored (`pred_MODEL`, as after `failforge demo` or
`failforge report`). Prints the median seconds of each way; exits with an error if the two ways
give different metrics.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("model")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from agent.bootstrap import build_deps
    from agent.settings import Settings
    from agent.steps.predictions import slice_fields
    from evaluation.metrics import evaluate_split, metrics_from_results, slice_name

    deps = build_deps(Settings.load(args.workspace.resolve()))
    datasets, fields, pred = deps.datasets, slice_fields(deps), f"pred_{args.model}"
    view = datasets.split("test")

    def per_slice_evaluations() -> dict[str, object]:
        """The way `evaluate_split` worked before: one FiftyOne evaluation per slice value."""
        conf = deps.settings.evaluation.conf_threshold
        datasets.evaluate(view, pred, None)
        slices = {}
        for f in fields:
            for v in sorted({v for v in datasets.values(view, f) if v is not None}):
                sub = datasets.where(view, f, v)
                results = datasets.evaluate(sub, pred, None)
                slices[slice_name(f, v)] = metrics_from_results(
                    results, datasets.classes, conf, len(sub)
                )
        return slices

    def one_pass() -> dict[str, object]:
        conf = deps.settings.evaluation.conf_threshold
        return dict(evaluate_split(datasets, "bench", pred, "test", conf, fields).slices)

    times: dict[str, list[float]] = {"per-slice evaluations": [], "one pass": []}
    results = {}
    for _ in range(args.repeats):
        for name, way in (("per-slice evaluations", per_slice_evaluations), ("one pass", one_pass)):
            started = time.perf_counter()
            results[name] = way()
            times[name].append(time.perf_counter() - started)
    if results["per-slice evaluations"] != results["one pass"]:
        raise SystemExit("the two ways gave different metrics")
    for name, seconds in times.items():
        print(f"{name}: median {statistics.median(seconds):.1f} s of {args.repeats}")
    view._dataset.delete_evaluation("bench_test")  # the timing run's stored evaluation


if __name__ == "__main__":
    main()
