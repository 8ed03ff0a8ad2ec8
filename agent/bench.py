"""`failforge bench`: the closed loop against its alternatives at the same image budget, over seeds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from agent.deps import Deps, build_deps
from agent.report import ensure_test_metrics
from agent.runner import current_loop_id, loop_status, resume_loop, start_loop
from agent.settings import Settings
from agent.setup import clone_workspace, init_workspace, train_baseline
from evaluation.bench import aggregate, markdown, plots
from tools.generator.retrieval import build_pool
from tools.world.config import WorldConfig, read_world

ARMS = ("none", "untargeted", "targeted", "retrieval")
Progress = Callable[[str, int, int], None]


def _base_workspace(out: Path, world: WorldConfig, seed: int, progress: Progress) -> Deps:
    """One baseline per seed, trained once and shared by every arm."""
    base = out / f"seed{seed}" / "base"
    shared = {"fiftyone": {"database_dir": str(out / "fiftyone")}}
    if not (base / "failforge.yaml").is_file():
        yaml_path = out / f"world-seed{seed}.yaml"
        yaml_path.write_text(
            yaml.safe_dump(world.model_copy(update={"seed": seed}).model_dump(mode="json"))
        )
        init_workspace(base, yaml_path, progress=progress, settings_values=shared)
    deps = build_deps(Settings.load(base))
    train_baseline(deps, progress)
    ensure_test_metrics(deps, "v1")
    return deps


def _run_arm(
    base: Deps,
    out: Path,
    arm: str,
    seed: int,
    budget: int,
    cycles: int,
    pool: Path,
    progress: Progress,
) -> dict[str, Any]:
    """Run one arm's loop from a clone of the seed's baseline; test metrics after each cycle."""
    folder = out / f"seed{seed}" / arm
    result_file = folder / "arm.json"
    if result_file.is_file():
        return dict(json.loads(result_file.read_text()))
    if not (folder / "failforge.yaml").is_file():
        per_cycle = -(-budget // cycles)
        clone_workspace(
            base,
            folder,
            {
                # Every arm runs every cycle: no early stop, the same recipe and budget.
                "loop": {
                    "strategy": arm,
                    "batch_size": per_cycle,
                    "patience": cycles + 1,
                    "target_recall": 1.0,
                },
                "backends": {"retrieval_pool": str(pool)},
            },
        )
    deps = build_deps(Settings.load(folder))
    evaluations: list[dict[str, Any]] = []
    images: list[int] = []
    steps: dict[str, float] = {}
    clock = [time.perf_counter()]

    def observe(node: str, update: dict[str, Any]) -> None:
        now = time.perf_counter()
        steps[node] = steps.get(node, 0.0) + now - clock[0]
        if node == "decide_next":
            incumbent = deps.registry.incumbent()
            assert incumbent is not None
            evaluations.append(ensure_test_metrics(deps, incumbent.name)["test"])
            record = update["history"][-1]
            images.append(record.images)
            progress(f"seed {seed} {arm}", len(evaluations), cycles)
        clock[0] = time.perf_counter()

    started = time.perf_counter()
    if current_loop_id(deps) is None:
        outcome = start_loop(deps, cycles, budget, True, observe)
    else:
        outcome = resume_loop(deps, observe=observe)
    while outcome.waiting is not None:  # over threshold after every revision: the bench approves
        outcome = resume_loop(
            deps, {"approved": True, "by": "bench", "reason": "benchmark"}, observe
        )
    state = loop_status(deps, outcome.loop_id).state
    while len(evaluations) < cycles:  # a loop that stopped early keeps its last model
        evaluations.append(
            evaluations[-1] if evaluations else ensure_test_metrics(deps, "v1")["test"]
        )
        images.append(0)
    result = {
        "cycles": evaluations,
        "images": images,
        "step_seconds": steps,
        "seconds": time.perf_counter() - started,
        "stop_reason": state.stop_reason if state else None,
    }
    result_file.write_text(json.dumps(result))
    return result


def run_bench(
    out: Path,
    yaml_path: Path | None,
    budget: int,
    cycles: int,
    seeds: Sequence[int],
    arms: Sequence[str],
    progress: Progress,
) -> dict[str, Any]:
    """Run every arm for every seed (resumable: finished arms are read back) and aggregate."""
    out = out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    world = read_world(yaml_path)
    runs: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        base = _base_workspace(out, world, seed, progress)
        pool = out / f"seed{seed}" / "pool"
        if not (pool / "pool.json").is_file():
            build_pool(world.model_copy(update={"seed": seed}), pool, count=3 * budget)
        runs[seed] = {"baseline": ensure_test_metrics(base, "v1")["test"], "arms": {}}
        for arm in arms:
            runs[seed]["arms"][arm] = _run_arm(base, out, arm, seed, budget, cycles, pool, progress)
    result = aggregate(runs, arms, budget, cycles)
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    (out / "bench.md").write_text(markdown(result))
    plots(result, out)
    return result
