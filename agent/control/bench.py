"""`failforge bench`: the closed loop against its alternatives at the same image budget, over seeds.

Order matters for a fair test: every seed's baseline is trained first, the two worst baseline
slices on `test` are then fixed and written to bench.json, and only then do the arms run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from agent.bootstrap import build_deps
from agent.control.bench_fields import BenchField, ImportedField, WorldField
from agent.control.report import ensure_test_metrics
from agent.control.runner import LoopDriver, LoopOutcome
from agent.control.workspaces import clone_workspace, train_baseline
from agent.ports import Deps, Progress
from agent.results import Discovery
from agent.settings import STRATEGIES, Settings
from agent.state import ApprovalRequest, Decision
from agent.steps.camera import field_camera
from agent.steps.failures import val_object_table
from evaluation.bench import aggregate, oracle_targets
from evaluation.bench_report import markdown, plots
from evaluation.slices import assign_bins, slice_mask
from storage.workspace import Workspace
from tools.world.config import read_world

ARMS: tuple[str, ...] = STRATEGIES  # every strategy is an arm


def _base_workspace(out: Path, source: BenchField, seed: int, progress: Progress) -> Deps:
    """One baseline per seed, trained once and shared by every arm."""
    base = out / f"seed{seed}" / "base"
    shared = {"fiftyone": {"database_dir": str(out / "fiftyone")}}
    if not Workspace(base).settings_file.is_file():
        source.init_base(base, out, seed, shared)
    deps = build_deps(Settings.load(base))
    train_baseline(deps, progress)
    ensure_test_metrics(deps, "v1")
    if deps.settings.world is not None:
        field_camera(deps)  # once per seed; every arm's clone carries it
    return deps


def _run_arm(
    base: Deps,
    out: Path,
    arm: str,
    seed: int,
    budget: int,
    cycles: int,
    pool: Path,
    oracle: dict[str, float],
    progress: Progress,
    overrides: dict[str, Any] | None = None,
    source: BenchField | None = None,
) -> dict[str, Any]:
    """Run one arm's loop from a clone of the seed's baseline; test metrics after each cycle.

    `overrides` (a variant's settings) are merged into the arm's settings; a variant's
    strategy is `targeted` unless its overrides name another.
    """
    folder = out / f"seed{seed}" / arm
    overrides = overrides or {}
    measure = source.test_metrics if source else _test_metrics
    result_file = folder / "arm.json"
    if result_file.is_file():
        return _stored_arm(result_file, folder, measure)
    if not Workspace(folder).settings_file.is_file():
        strategy = overrides.get("loop", {}).get("strategy", "targeted" if arm not in ARMS else arm)
        clone_workspace(
            base, folder, _arm_settings(strategy, budget, cycles, pool, oracle, overrides)
        )
    deps = build_deps(Settings.load(folder))
    steps: dict[str, float] = {}
    observe = _timed_steps(steps, lambda done: progress(f"seed {seed} {arm}", done, cycles))
    started = time.perf_counter()
    driver = LoopDriver(deps)
    resumed = driver.current_id() is not None
    outcome = driver.run_to_end(cycles, budget, _bench_approver, observe=observe)
    result = _arm_result(deps, outcome, cycles, measure, steps, started, resumed)
    result_file.write_text(json.dumps(result))
    return result


def _stored_arm(
    result_file: Path, folder: Path, measure: Callable[[Deps, str], dict[str, Any]]
) -> dict[str, Any]:
    """An arm measured before: its arm.json, completed with its last candidate when it was
    measured before candidates were reported."""
    stored = dict(json.loads(result_file.read_text()))
    if "last_candidate" not in stored:
        deps = build_deps(Settings.load(folder))
        stored["last_candidate"] = _last_candidate_on_test(deps, measure)
        result_file.write_text(json.dumps(stored))
    return stored


def _timed_steps(
    steps: dict[str, float], cycle_done: Callable[[int], None]
) -> Callable[[str, dict[str, Any]], None]:
    """An observer adding each node's seconds to `steps`, and calling `cycle_done` with the
    number of finished cycles after each `decide_next`."""
    clock = [time.perf_counter()]

    def observe(node: str, update: dict[str, Any]) -> None:
        now = time.perf_counter()
        steps[node] = steps.get(node, 0.0) + now - clock[0]
        if node == "decide_next":
            cycle_done(len(update["history"]))
        clock[0] = time.perf_counter()

    return observe


def _arm_result(
    deps: Deps,
    outcome: LoopOutcome,
    cycles: int,
    measure: Callable[[Deps, str], dict[str, Any]],
    steps: dict[str, float],
    started: float,
    resumed: bool,
) -> dict[str, Any]:
    """What arm.json keeps of one arm's loop: test metrics after each cycle, images, times."""
    state = outcome.state
    # Read from the loop's own history, so cycles finished before a kill are counted too.
    history = state.history if state else []
    models = _model_after_each_cycle(history, cycles)
    return {
        "cycles": [measure(deps, model) for model in models],
        "images": [r.images for r in history] + [0] * (cycles - len(history)),
        "step_seconds": steps,
        # A resumed arm's clock covers only the part after the resume.
        "seconds": time.perf_counter() - started,
        "resumed": resumed,
        "stop_reason": state.stop_reason if state else None,
        # Cycles the loop ran; `cycles` repeats its last model for any it did not (what the
        # product would ship), and bench.md says so.
        "cycles_run": len(history),
        "loop_slices": _discovered(deps, outcome.loop_id, cycles),
        "last_candidate": _last_candidate_on_test(deps, measure),
        "batches": _request_checks(deps, outcome.loop_id),
    }


def _bench_approver(waiting: ApprovalRequest) -> Decision:
    """Over threshold after every revision: the bench approves, as every arm's policy would."""
    return Decision(approved=True, by="bench", reason="benchmark")


def _request_checks(deps: Deps, loop_id: str) -> list[dict[str, Any]]:
    """Per batch of the loop: the share of images made as asked, and the unmet conditions."""
    return [
        {"cycle": b.cycle, "as_asked": b.scores.get("as_asked"), "unmet": b.scores.get("unmet", {})}
        for b in deps.registry.batches()
        if b.loop_id == loop_id
    ]


def _test_metrics(deps: Deps, model: str) -> dict[str, Any]:
    return dict(ensure_test_metrics(deps, model)["test"])


def _last_candidate_on_test(
    deps: Deps, measure: Callable[[Deps, str], dict[str, Any]] = _test_metrics
) -> dict[str, Any]:
    """The last cycle's candidate on `test`, promoted or not: the model trained on all of the
    arm's images. The gate's yes/no hides how good the data was when it rejects (on a seed
    where every candidate of every arm was rejected, every arm gained exactly 0)."""
    state = LoopDriver(deps).current_state()
    trained = [r.candidate for r in (state.history if state else []) if r.candidate]
    model = trained[-1] if trained else "v1"
    return {"model": model, "test": measure(deps, model)}


def _model_after_each_cycle(history: list[Any], cycles: int) -> list[str]:
    """The incumbent after each cycle (a loop that stopped early keeps its last model)."""
    models, model = [], "v1"
    for cycle in range(cycles):
        record = history[cycle] if cycle < len(history) else None
        if record is not None and record.promoted and record.candidate:
            model = record.candidate
        models.append(model)
    return models


def _arm_settings(
    strategy: str,
    budget: int,
    cycles: int,
    pool: Path,
    oracle: dict[str, float],
    overrides: dict[str, Any],
) -> dict[str, Any]:
    """An arm's settings: every arm runs every cycle (no early stop), same recipe and budget."""
    return {
        **overrides,
        "loop": {
            **overrides.get("loop", {}),
            "strategy": strategy,
            "batch_size": -(-budget // cycles),
            "patience": cycles + 1,
            "target_recall": 1.0,
            # Only the oracle arm is told the true worst slices (read by the bench); an oracle
            # variant may name its own (a probe: the planner aimed at one chosen slice).
            "oracle_slices": (overrides.get("loop", {}).get("oracle_slices") or oracle)
            if strategy == "oracle"
            else {},
        },
        "backends": {"retrieval_pool": str(pool)},
    }


def _discovered(deps: Deps, loop_id: str, cycles: int) -> list[dict[str, Any]]:
    """The slices the loop found on `val` each cycle, with that cycle's bin edges."""
    found = []
    for cycle in range(1, cycles + 1):
        stored = deps.registry.step_result(f"{loop_id}/c{cycle}/r0/discover_failures")
        if stored is None:
            continue
        discovery = Discovery.model_validate(stored)
        found += [
            {"name": f.name, "conditions": f.conditions, "edges": discovery.edges}
            for f in discovery.slices
        ]
    return found


def loop_slice_recall(deps: Deps, model: str, slices: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall on `test` of the objects in any of the loop's `val` slices (same attributes, same
    bin edges), pooled, with the object count: `{"recall": r, "objects": n}`."""
    if not slices:
        return {"recall": None, "objects": 0}
    table = val_object_table(deps, model, "test")
    mask = None
    for failure in slices:
        inside = slice_mask(assign_bins(table, failure["edges"]), failure["conditions"])
        mask = inside if mask is None else mask | inside
    assert mask is not None
    objects = int(mask.sum())
    recall = float(table.found[mask].mean()) if objects else None
    return {"recall": recall, "objects": objects}


def run_bench(
    out: Path,
    yaml_path: Path | None,
    budget: int,
    cycles: int,
    seeds: Sequence[int],
    arms: Sequence[str],
    progress: Progress,
    variants: dict[str, dict[str, Any]] | None = None,
    imported: tuple[Path, str] | None = None,
) -> dict[str, Any]:
    """Run every arm for every seed (resumable: finished arms are read back) and aggregate.

    `variants` are extra arms: a name and the settings it changes (a targeting lever measured
    against the same baselines, pools and `none` arm as everything else). `imported` (a path
    and its format) benchmarks on a user's labelled photographs instead of a world.
    """
    variants = variants or {}
    arms = [*arms, *(name for name in variants if name not in arms)]
    out = out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    source: BenchField = (
        ImportedField(imported[0].expanduser().resolve(), imported[1])
        if imported
        else WorldField(read_world(yaml_path))
    )
    bases = {seed: _base_workspace(out, source, seed, progress) for seed in seeds}
    worst = _preregister(out, source, bases, budget, cycles, seeds)
    baselines = {seed: source.test_metrics(base, "v1") for seed, base in bases.items()}
    runs: dict[int, dict[str, Any]] = {}
    for seed, base in bases.items():
        pool = source.prepare_seed(out, seed, budget) or out / f"seed{seed}" / "pool"
        oracle = oracle_targets(baselines[seed], worst)
        runs[seed] = {"baseline": baselines[seed], "arms": {}}
        for arm in arms:
            runs[seed]["arms"][arm] = _run_arm(
                base,
                out,
                arm,
                seed,
                budget,
                cycles,
                pool,
                oracle,
                progress,
                variants.get(arm),
                source,
            )
        _measure_loop_slices(base, out, seed, runs[seed])
    result = aggregate(runs, arms, budget, cycles, worst, variants)
    result.update(source.describe())
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    (out / "bench.md").write_text(markdown(result))
    plots(result, out)
    return result


def _preregister(
    out: Path,
    source: BenchField,
    bases: dict[int, Deps],
    budget: int,
    cycles: int,
    seeds: Sequence[int],
) -> list[str]:
    """Fix the two worst baseline slices on `test` before any arm runs; a resumed run keeps them
    (and, for photographs, the measured slices' definitions)."""
    path = out / "bench.json"
    if path.is_file():
        earlier = json.loads(path.read_text())
        if earlier.get("worst_slices") and earlier.get("seeds") == list(seeds):
            if isinstance(source, ImportedField):
                source.slices = earlier.get("measured_slices", {})
            return list(earlier["worst_slices"])
    worst = source.preregister(bases, 2)
    preregistered = {
        "status": "arms running",
        "worst_slices": worst,
        "seeds": list(seeds),
        "budget": budget,
        "cycles": cycles,
        **source.describe(),
    }
    path.write_text(json.dumps(preregistered, indent=2))
    return worst


def _measure_loop_slices(base: Deps, out: Path, seed: int, run: dict[str, Any]) -> None:
    """Every arm's final model (and the baseline) on `test`, on the slices the targeted loop found
    on `val`: does each arm fix what the loop aimed at?"""
    targeted = run["arms"].get("targeted")
    slices = targeted.get("loop_slices", []) if targeted else []
    run["loop_slices"] = {"baseline": loop_slice_recall(base, "v1", slices)}
    for arm in run["arms"]:
        deps = build_deps(Settings.load(out / f"seed{seed}" / arm))
        incumbent = deps.registry.incumbent()
        assert incumbent is not None
        ensure_test_metrics(deps, incumbent.name)
        run["loop_slices"][arm] = loop_slice_recall(deps, incumbent.name, slices)


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """`NAME:section.key=value;...` -> (NAME, nested settings); values are read as YAML.

    Raises ValueError with one sentence when the text does not have that shape.
    """
    name, _, assignments = text.partition(":")
    if not name.strip() or name.strip() in ARMS or not assignments.strip():
        raise ValueError(
            f"A variant is NAME:section.key=value[;...] with a new NAME, not '{text}' "
            f"(e.g. concentrate:loop.concentrate=true)."
        )
    settings: dict[str, Any] = {}
    for assignment in assignments.split(";"):
        key, equals, value = assignment.partition("=")
        path = [part for part in key.strip().split(".") if part]
        if not equals or len(path) < 2:
            raise ValueError(f"'{assignment}' in variant '{name}' is not section.key=value.")
        node = settings
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(value)
        if not _known(Settings, path):
            raise ValueError(f"Variant '{name}' sets {key.strip()}, which is not a setting.")
    return name.strip(), settings


def _known(model: type[BaseModel], path: list[str]) -> bool:
    """Whether `section.key...` names a field of the settings model (a typo would be ignored)."""
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    inner = field.annotation
    return isinstance(inner, type) and issubclass(inner, BaseModel) and _known(inner, path[1:])
