"""Where a cycle's time goes: seconds per loop step and per port call (train, predict, evaluate, ...).

Usage: python scripts/profile_cycle.py WORKSPACE [--cycles 1] [--budget 450] [--json OUT]

Runs auto-approved cycles on a throwaway copy of WORKSPACE (which must have a baseline), so the
workspace itself is untouched. Every call into the detector, generator, labeler and the FiftyOne
evaluation is timed by a thin proxy; "orchestration" is everything else (graph, checkpoints,
registry, FiftyOne reads and writes, slice tables, planning, quality scores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Port calls whose time is the work itself, not orchestration (the definition).
HEAVY = {
    "detector.train": "training",
    "detector.predict": "prediction",
    "detector.embed": "embeddings",
    "datasets.evaluate": "evaluation",
    "generator.generate": "generation",
    "labeler.label": "labelling",
}


class Timed:
    """Forwards attribute access to `target`, timing the calls of the named methods."""

    def __init__(self, name: str, target: Any, seconds: dict[str, float]) -> None:
        self._name, self._target, self._seconds = name, target, seconds

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._target, attribute)
        key = f"{self._name}.{attribute}"
        if key not in HEAVY or not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._seconds[key] += time.perf_counter() - started

        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--cycles", type=int, default=1)
    parser.add_argument("--budget", type=int, default=450)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    source = args.workspace.resolve()
    if not (source / "models" / "v1" / "weights.pt").is_file():
        parser.error(f"{source} has no baseline; run `failforge baseline -w {source}` first")

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "ws"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("current_loop.json"))
        from agent.bootstrap import build_deps
        from agent.control.runner import LoopDriver
        from agent.settings import Settings
        from storage.registry import Registry

        # The copied registry names model files in the source; the copy has the same layout.
        Registry(copy / "registry.sqlite").relocate_models(source, copy)
        deps = build_deps(Settings.load(copy))
        calls: dict[str, float] = defaultdict(float)
        deps.detector = Timed("detector", deps.detector, calls)  # type: ignore[assignment]
        deps.generator = Timed("generator", deps.generator, calls)  # type: ignore[assignment]
        deps.labeler = Timed("labeler", deps.labeler, calls)  # type: ignore[assignment]
        deps.datasets = Timed("datasets", deps.datasets, calls)  # type: ignore[assignment]
        steps: dict[str, float] = defaultdict(float)
        last = [time.perf_counter()]

        def observe(node: str, update: dict[str, Any]) -> None:
            now = time.perf_counter()
            steps[node] += now - last[0]
            last[0] = now

        started = time.perf_counter()
        last[0] = started
        LoopDriver(deps).start(args.cycles, args.budget, True, observe)
        total = time.perf_counter() - started

    heavy = {label: calls.get(key, 0.0) for key, label in HEAVY.items()}
    orchestration = total - sum(heavy.values())
    print(f"{args.cycles} cycle(s) in {total:.1f} s ({total / args.cycles:.1f} s per cycle)")
    print(f"{'step':22s} {'seconds':>8s} {'share':>6s}")
    for node, seconds in steps.items():
        print(f"{node:22s} {seconds:8.1f} {seconds / total:6.1%}")
    print(f"\n{'work':22s} {'seconds':>8s} {'share':>6s}")
    for label, seconds in [*heavy.items(), ("orchestration", orchestration)]:
        print(f"{label:22s} {seconds:8.1f} {seconds / total:6.1%}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"seconds": total, "cycles": args.cycles, "steps": steps, "work": heavy}, indent=2
            )
        )


if __name__ == "__main__":
    main()
