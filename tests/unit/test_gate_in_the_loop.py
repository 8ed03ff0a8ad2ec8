"""The gate in the loop on a tiny world: a carried candidate reaches the next cycle, and the
worst-slices objective reaches the verdict.

Real FiftyOne, discovery and gate; the detector is `FakeDetector` (no training): each fine-tune
starts from the incumbent's skill and adds `gain`, so two candidates trained from the same
incumbent find the same objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.bootstrap import build_deps
from agent.control.runner import LoopDriver
from agent.control.workspaces import init_workspace
from agent.settings import Settings
from agent.steps.condition_reads import deployment_weighting
from tests.conftest import TINY_WORLD
from tests.fakes import FakeDetector


def _looping(
    tmp_path: Path, settings: dict[str, Any], gain: float, cycles: int, budget: int
) -> tuple[Any, Any]:
    """A tiny world's workspace with a FakeDetector of skill 0.5 as v1 (each fine-tune adds
    `gain`), its loop run to the end with every batch approved; (deps, outcome)."""
    workspace, world = tmp_path / "ws", tmp_path / "world.yaml"
    world.write_text(TINY_WORLD)
    init_workspace(workspace, world, settings_values=settings)
    deps = build_deps(Settings.load(workspace))
    field = deps.datasets.field()
    paths = [str(s.path) for s in deps.datasets.samples(field)]
    truth = dict(zip(paths, deps.datasets.labels(field), strict=True))
    deps.detector = detector = FakeDetector(truth, deps.settings.classes, gain)
    weights = detector.save(workspace / "models" / "v1" / "weights.pt", 0.5)
    deps.registry.add_model("v1", weights, None, "incumbent", {})
    outcome = LoopDriver(deps).start(cycles=cycles, budget=budget, auto_approve=True)
    while outcome.waiting is not None:  # scores over threshold on so small a batch: say yes
        outcome = LoopDriver(deps).decide(outcome.waiting.batch_id, True, "tester")
    assert outcome.state is not None
    return deps, outcome


def test_an_inconclusive_candidate_is_carried_and_promoted_when_better_again(
    tmp_path: Path,
) -> None:
    # A level near 1 leaves any gain on so tiny a val inside its interval: this test is about
    # what the loop does with an inconclusive verdict, not about the level.
    settings = {"loop": {"min_support": 3}, "gate": {"rule": "evidence", "confidence": 0.999999}}
    # Skill 0.5 -> 0.6: a few of the objects v1 misses are found, none lost. (With 0.5 -> 0.95
    # the gain on its 39-slice val excluded 0 even at this level: promoted in cycle 1.)
    deps, outcome = _looping(tmp_path, settings, gain=0.1, cycles=2, budget=24)
    first, second = outcome.state.history
    # Cycle 1: better on its targets, not beyond noise, nothing blocks: carried, not promoted.
    assert (first.candidate, first.promoted) == ("v2", False)
    assert "holds 0: carried to the next cycle" in first.reasons[0]
    # Cycle 2: a new candidate from the same incumbent (v1), inconclusive too; v2, judged
    # again, is still better: the new one is promoted, and the carried one is done with.
    assert (second.candidate, second.promoted) == ("v3", True)
    assert "and v2, carried, is better again" in second.reasons[0]
    assert "better over two cycles" in second.reasons[0]
    assert deps.registry.incumbent().name == "v3"
    v2 = deps.registry.model("v2")
    assert v2 is not None and v2.status == "rejected"
    assert v2.reason.startswith("carried from cycle 1, then v3: ")
    assert outcome.state.carried is None
    # The event log says which verdict carried a candidate.
    gates = [e.payload for e in deps.registry.events() if e.kind == "gate"]
    assert [(g["candidate"], g["carried"]) for g in gates] == [("v2", True), ("v3", False)]


def test_the_worst_slices_objective_reaches_the_loops_verdict(tmp_path: Path) -> None:
    settings = {"loop": {"min_support": 3}, "gate": {"objective": "worst"}}
    _, outcome = _looping(tmp_path, settings, gain=0.3, cycles=1, budget=12)
    (cycle,) = outcome.state.history
    # The verdict names the slices it was judged on: single slices (no ' & '), two to four.
    named = cycle.reasons[0].split("; objective: worst val slices ")[1].split(", ")
    assert 2 <= len(named) <= 4 and all("=" in n and " & " not in n for n in named)
    # The cycle's hypotheses are still its targets'.
    assert cycle.targets and set(cycle.outcomes) == set(cycle.targets)


def test_the_deployment_objective_reaches_the_loops_verdict(tmp_path: Path) -> None:
    # Unlabelled deployment images, darker than the tiny world's field: the weights lean to
    # whatever val images the pixels read as darker.
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    noise = np.random.default_rng(0)
    for index in range(6):
        pixels = noise.integers(0, 40 if index % 3 else 255, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(deploy / f"{index}.png")
    settings = {
        "loop": {"min_support": 3, "deploy_images": str(deploy)},
        "gate": {"objective": "deployment"},
    }
    deps, outcome = _looping(tmp_path, settings, gain=0.3, cycles=1, budget=12)
    (cycle,) = outcome.state.history
    assert "; objective: val weighted to the deployment (" in cycle.reasons[0]
    assert "effective of " in cycle.reasons[0]
    # The cycle's hypotheses are still its targets'.
    assert cycle.targets and set(cycle.outcomes) == set(cycle.targets)
    # All four conditions weigh, distance and crowding read from v1's predicted boxes on the
    # deployment images, predicted once and then read back from v1's folder.
    calls: list[int] = []
    predict = deps.detector.predict
    deps.detector.predict = lambda weights, images: (
        calls.append(len(images)) or predict(weights, images)
    )
    weighting = deployment_weighting(deps, "v1")
    assert set(weighting.prevalence) == {"lighting", "weather", "distance", "crowding"}
    assert (tmp_path / "ws" / "models" / "v1" / "predictions_deploy.json").is_file()
    assert calls == []  # the gate's read above cached them
    # Another image set is predicted afresh.
    (deploy / "6.png").write_bytes((deploy / "0.png").read_bytes())
    deployment_weighting(deps, "v1")
    assert calls == [7]
