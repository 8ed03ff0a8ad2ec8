"""The kill matrix: a real loop on a tiny world SIGKILLed at one point, resumed, then checked.

Each case clones a trained tiny workspace, runs `failforge run --auto-approve` in a child that
kills itself at the point (tests/faults/child.py), runs `failforge resume` in a fresh process,
and checks that the registry, the LangGraph checkpoint and FiftyOne tell one consistent story.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NODES = [
    "evaluate_detector",
    "discover_failures",
    "analyze_failures",
    "check_hypotheses",
    "plan_batch",
    "generate_images",
    "label_images",
    "score_batch",
    "request_approval",
    "record_decision",
    "retrain_detector",
    "gate_candidate",
    "decide_next",
]
PHASES = ("start", "middle", "end")
# CI's share of the matrix: every node killed once, the phases taken in turn (`make faults-ci`).
ONE_PER_NODE = [f"{node}:{PHASES[k % len(PHASES)]}" for k, node in enumerate(NODES)]
POINTS = [f"{node}:{phase}" for node in NODES for phase in PHASES] + [
    "Registry.decide_batch:inside",  # the approval decision's database write
    "Registry.promote:inside",  # the promotion's database write
]
# Small enough for a case in well under a minute, large enough that every node does real work.
TINY_WORLD = """\
seed: 3
image_size: 96
splits: {train: 64, val: 32, test: 24}
conditions:
  lighting: {day: 0.8, night: 0.2}
  weather: {clear: 0.7, fog: 0.3}
  distance: {near: 0.6, mid: 0.4}
  crowding: {sparse: 1.0}
"""
LOOP_SETTINGS: dict[str, Any] = {
    "loop": {"batch_size": 16, "min_support": 4, "real_sample": 24},
    "detector": {"finetune_epochs": 2, "batch": 4},
    # The gate promotes any candidate that holds its target slices: a tiny world's fine-tune
    # drops mAP50 and small slices by more than the default limits, and a loop that never
    # promotes would never reach the kill inside the promotion's database write.
    "gate": {"min_gain": 0.0, "max_map_drop": 1.0, "max_slice_drop": 1.0},
}
# Events a node writes once per cycle: a node replayed after a kill must not write them twice.
ONCE_PER_CYCLE = ("batch_decided", "gate", "cycle_finished")


@dataclass
class CaseResult:
    """One kill point: where the child died, whether resume finished, what did not agree."""

    point: str
    workspace: Path
    died: str = ""
    resume_code: int | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def survived(self) -> bool:
        return bool(self.died) and self.resume_code == 0 and not self.problems


def failforge(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        cwd=REPO,
        env={**os.environ, "FAILFORGE_DETECTOR__BATCH": "4"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def trained_baseline(root: Path, epochs: int = 20) -> Path:
    """A tiny workspace with a baseline that has learnt enough to have failure slices."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "world.yaml").write_text(TINY_WORLD)
    workspace = root / "base"
    for args in (
        ("init", str(workspace), "--world", str(root / "world.yaml")),
        ("baseline", "-w", str(workspace), "--epochs", str(epochs)),
    ):
        done = failforge(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    return workspace


def clone(base: Path, target: Path) -> Path:
    from agent.bootstrap import build_deps
    from agent.control.workspaces import clone_workspace
    from agent.settings import Settings

    settings = Settings.load(base)
    shared = {"fiftyone": {"database_dir": str(settings.database_dir())}}  # clones share it
    return clone_workspace(build_deps(settings), target, {**LOOP_SETTINGS, **shared})


def _victim(point: str, marker: Path, delay: float, workspace: Path, cycles: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.faults.child",
            point,
            str(marker),
            str(delay),
            "--",
            "run",
            "-w",
            str(workspace),
            "--cycles",
            str(cycles),
            "--budget",
            str(16 * cycles),
            "--auto-approve",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )


def node_seconds(base: Path, folder: Path, cycles: int) -> dict[str, float]:
    """Each node's first duration in an uninterrupted loop: `middle` kills fire at half of it."""
    marker = folder / "timing.json"
    if not marker.is_file():  # measured once per matrix folder
        _victim("timing", marker, 0.0, clone(base, folder / "timing"), cycles)
    return dict(json.loads(marker.read_text()))


def run_case(
    base: Path, folder: Path, point: str, cycles: int, seconds: dict[str, float] | None = None
) -> CaseResult:
    """Kill a loop at `point`, resume it in a new process, check what it left."""
    started = time.perf_counter()
    target = folder / point.replace(":", "-").replace(".", "-")
    shutil.rmtree(target, ignore_errors=True)  # a case runs from a fresh clone every time
    workspace = clone(base, target)
    marker = workspace / "killed-at.txt"
    delay = (seconds or {}).get(point.partition(":")[0], 0.0) / 2
    _victim(point, marker, delay, workspace, cycles)
    result = CaseResult(point, workspace, marker.read_text() if marker.is_file() else "")
    resumed = failforge("resume", "-w", str(workspace))
    result.resume_code = resumed.returncode
    if resumed.returncode != 0:
        result.problems.append(f"resume exited {resumed.returncode}: {resumed.stderr[-300:]}")
    result.problems += inconsistencies(workspace, cycles)
    result.seconds = time.perf_counter() - started
    return result


def inconsistencies(workspace: Path, cycles: int) -> list[str]:
    """What the registry, the checkpoint and FiftyOne disagree on, in one sentence each."""
    from agent.bootstrap import build_deps
    from agent.control.runner import LoopDriver
    from agent.settings import Settings

    deps = build_deps(Settings.load(workspace))
    loop_id = LoopDriver(deps).current_id()
    if loop_id is None:
        return ["no loop was started"]
    status = LoopDriver(deps).status(loop_id)
    problems = [] if status.finished else ["the loop did not finish"]
    history = status.state.history if status.state else []
    if len(history) != cycles and not (status.state and status.state.stop_reason):
        problems.append(f"{len(history)} cycles recorded, {cycles} asked for")
    problems += _batch_problems(deps, loop_id, history)
    problems += _model_problems(deps, history)
    events = Counter((e.kind, e.cycle) for e in deps.registry.events() if e.loop_id == loop_id)
    problems += [
        f"event {kind} written {count} times in cycle {cycle}"
        for (kind, cycle), count in sorted(events.items())
        if kind in ONCE_PER_CYCLE and count > 1
    ]
    return problems


def _batch_problems(deps: Any, loop_id: str, history: list[Any]) -> list[str]:
    problems = []
    batches = [b for b in deps.registry.batches() if b.loop_id == loop_id]
    for record in history:
        decided = [b for b in batches if b.cycle == record.cycle and b.status != "proposed"]
        if record.batch_id is not None and len(decided) != 1:
            problems.append(f"cycle {record.cycle} has {len(decided)} decided batches")
    for batch in batches:
        view = deps.datasets.batch(batch.id)
        statuses = Counter(deps.datasets.values(view, "status"))
        paths = [s.path for s in deps.datasets.samples(view)]
        if len(paths) != len(set(paths)):
            problems.append(f"batch {batch.id} holds {len(paths) - len(set(paths))} duplicates")
        if batch.status == "rejected" and statuses.get("approved"):
            problems.append(f"rejected batch {batch.id} has approved samples")
        if batch.status == "approved" and statuses.get("approved", 0) != batch.image_count:
            problems.append(
                f"approved batch {batch.id}: {statuses.get('approved', 0)} approved samples, "
                f"registry says {batch.image_count}"
            )
    for record in history:
        if record.approved and record.batch_id:
            batch = deps.registry.batch(record.batch_id)
            if batch is None or batch.image_count != record.images:
                problems.append(f"cycle {record.cycle}: checkpoint and registry differ on images")
    return problems


def _model_problems(deps: Any, history: list[Any]) -> list[str]:
    problems = []
    models = deps.registry.models()
    incumbents = [m for m in models if m.status == "incumbent"]
    if len(incumbents) != 1:
        problems.append(f"{len(incumbents)} incumbents")
    for model in models:
        if not Path(model.path).is_file():
            problems.append(f"model {model.name} is registered without its weights file")
        args = Path(model.path).parent / "train" / "args.yaml"
        if args.is_file() and ".partial" in args.read_text():
            problems.append(f"model {model.name} trained on a half-written export")
    per_cycle = Counter(m.cycle for m in models if m.parent is not None)
    problems += [f"cycle {c} trained {n} models" for c, n in per_cycle.items() if n > 1]
    for record in history:
        model = deps.registry.model(record.candidate) if record.candidate else None
        if record.promoted and (model is None or model.status not in ("incumbent", "retired")):
            problems.append(f"cycle {record.cycle} promoted {record.candidate}, registry disagrees")
        if not record.promoted and model is not None and model.status in ("incumbent",):
            problems.append(f"cycle {record.cycle} kept the incumbent, registry promoted")
    return problems
