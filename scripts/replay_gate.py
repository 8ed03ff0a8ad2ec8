"""Replay the promotion gate on a benchmark's candidates: fixed margin against confidence bound.

For every candidate a benchmark trained (every arm, seed and cycle under `OUT`), the gate is
decided again from the stored val predictions, once with the fixed `min_gain` margin and once
with the confidence bound (`gate.confidence`), and each decision is checked against `test`:
was the candidate better than its incumbent on the benchmark's two pre-registered worst
slices? `test` never drives a decision in the product; here it only grades them.

    .venv/bin/python scripts/replay_gate.py runs/default [--confidence 0.9] [--arms a,b]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from agent.control.report import ensure_test_metrics
from agent.control.runner import current_loop_id, loop_status
from agent.deps import build_deps
from agent.settings import Settings
from agent.steps.failures import single_slices, val_object_table
from agent.steps.results import Discovery
from agent.steps.training import scorecard
from evaluation.gate import gate


def worst2(test: dict[str, Any], worst: list[str]) -> float | None:
    recalls = [test["slices"].get(name, {}).get("recall") for name in worst]
    return float(np.mean(recalls)) if all(r is not None for r in recalls) else None


def replay_arm(folder: Path, worst: list[str], confidence: float) -> list[dict[str, Any]]:
    """One row per candidate of the arm's loop: both gates' verdicts and the test outcome."""
    deps = build_deps(Settings.load(folder))
    loop_id = current_loop_id(deps)
    state = loop_status(deps, loop_id).state if loop_id else None
    rows = []
    for record in state.history if state else []:
        if not record.candidate:
            continue
        candidate = deps.registry.model(record.candidate)
        assert candidate is not None and candidate.parent is not None
        stored = deps.registry.step_result(f"{loop_id}/c{record.cycle}/r0/discover_failures")
        discovery = Discovery.model_validate(stored)
        targets = {s.name: s.conditions for s in discovery.slices if s.name in record.targets}
        incumbent_table = val_object_table(deps, candidate.parent)
        guarded = single_slices(incumbent_table, discovery.edges)
        slices = {**targets, **guarded}
        before = scorecard(deps, candidate.parent, incumbent_table, discovery.edges, slices)
        after_table = val_object_table(deps, candidate.name)
        after = scorecard(deps, candidate.name, after_table, discovery.edges, slices)
        g = deps.settings.gate
        limits = (g.min_gain, g.max_map_drop, g.max_slice_drop)
        guard = {k: v for k, v in before.slice_recall.items() if k in guarded}
        fixed = gate(before, after, list(targets), *limits, guard, None)
        bound = gate(before, after, list(targets), *limits, guard, confidence)
        test_before = ensure_test_metrics(deps, candidate.parent)["test"]
        test_after = ensure_test_metrics(deps, candidate.name)["test"]
        w_before, w_after = worst2(test_before, worst), worst2(test_after, worst)
        rows.append(
            {
                "arm": folder.name,
                "seed": folder.parent.name,
                "cycle": record.cycle,
                "fixed": fixed.promote,
                "bound": bound.promote,
                "test_worst2_gain": None if w_before is None else w_after - w_before,
                "test_map50_gain": test_after["overall"]["map50"] - test_before["overall"]["map50"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--arms", default=None, help="comma-separated arm folders (default all)")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default all)")
    args = parser.parse_args()
    worst = json.loads((args.out / "bench.json").read_text())["worst_slices"]
    arms = set(args.arms.split(",")) if args.arms else None
    seeds = [f"seed{s}" for s in args.seeds.split(",")] if args.seeds else None
    rows = []
    for seed_dir in sorted(args.out.glob("seed*")):
        if seeds and seed_dir.name not in seeds:
            continue
        for folder in sorted(p for p in seed_dir.iterdir() if (p / "arm.json").is_file()):
            if (arms and folder.name not in arms) or folder.name == "none":
                continue
            rows += replay_arm(folder, worst, args.confidence)
    print(
        f"{'seed':<7}{'arm':<18}{'cycle':>5}{'fixed':>7}{'bound':>7}{'worst2 +':>10}{'mAP50 +':>9}"
    )
    for r in rows:
        gain = r["test_worst2_gain"]
        print(
            f"{r['seed']:<7}{r['arm']:<18}{r['cycle']:>5}{'yes' if r['fixed'] else 'no':>7}"
            f"{'yes' if r['bound'] else 'no':>7}{'-' if gain is None else f'{gain:+.3f}':>10}"
            f"{r['test_map50_gain']:+9.3f}"
        )
    graded = [r for r in rows if r["test_worst2_gain"] is not None]
    for rule in ("fixed", "bound"):
        right = sum(r[rule] == (r["test_worst2_gain"] > 0) for r in graded)
        promoted = [r for r in graded if r[rule]]
        kept = float(np.mean([r["test_worst2_gain"] for r in promoted])) if promoted else 0.0
        bad = sum(r["test_worst2_gain"] <= 0 for r in promoted)
        missed = sum(not r[rule] and r["test_worst2_gain"] > 0 for r in graded)
        print(
            f"{rule}: {right}/{len(graded)} decisions agree with test; {len(promoted)} promoted "
            f"(mean worst-two gain {kept:+.3f}, {bad} not better on test); {missed} better "
            "candidates held back"
        )


if __name__ == "__main__":
    main()
