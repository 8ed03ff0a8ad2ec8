"""Measures the foundation and the loop on the default world: init, baseline, cycle and step times, gains.

Usage: python scripts/bench_loop.py [--out bench-out] [--cycles 3] [--budget 450]
Prints a table and writes bench-out/bench_loop.json. Figures, not assertions: see the issue notes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "bench-out")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--budget", type=int, default=450)
    args = parser.parse_args()
    workspace = args.out / "workspace"
    args.out.mkdir(parents=True, exist_ok=True)
    failforge = str(Path(sys.executable).parent / "failforge")
    figures: dict[str, Any] = {}
    if not (workspace / "failforge.yaml").is_file():
        figures["init_seconds"] = _timed([failforge, "init", str(workspace)])
        figures["baseline_seconds"] = _timed([failforge, "baseline", "-w", str(workspace)])
    status = json.loads(
        subprocess.run(
            [failforge, "status", "-w", str(workspace), "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    figures["baseline_test_map50"] = status["metrics"]["map50"]

    from agent.bootstrap import build_deps
    from agent.control.runner import LoopDriver
    from agent.settings import Settings

    deps = build_deps(Settings.load(workspace))
    step_seconds: dict[str, list[float]] = {}
    last = [time.perf_counter()]

    def observe(node: str, update: dict[str, Any]) -> None:
        now = time.perf_counter()
        step_seconds.setdefault(node, []).append(now - last[0])
        last[0] = now

    started = time.perf_counter()
    outcome = LoopDriver(deps).start(args.cycles, args.budget, True, observe)
    figures["loop_seconds"] = time.perf_counter() - started
    figures["stop_reason"] = outcome.stop_reason
    figures["waiting"] = outcome.waiting is not None
    figures["step_seconds"] = {k: sum(v) for k, v in step_seconds.items()}
    heavy = {
        "retrain_detector",
        "gate_candidate",
        "generate_images",
        "label_images",
        "evaluate_detector",
    }
    total = sum(figures["step_seconds"].values())
    light = sum(v for k, v in figures["step_seconds"].items() if k not in heavy)
    figures["share_outside_train_generate_label_evaluate"] = light / total if total else None
    history = outcome.state.history if outcome.state else []
    figures["cycles"] = [r.model_dump() for r in history]
    figures["cycle_seconds"] = figures["loop_seconds"] / max(len(history), 1)
    (args.out / "bench_loop.json").write_text(json.dumps(figures, indent=2, default=str))
    for key, value in figures.items():
        if key != "cycles":
            print(f"{key:48s} {value}")
    for r in history:
        print(
            f"cycle {r.cycle}: images {r.images} promoted {r.promoted} objective "
            f"{r.objective_before} -> {r.objective_after} mAP50 {r.map50_before} -> {r.map50_after}"
        )


if __name__ == "__main__":
    main()
