"""The gate replay's grading: better on test, false holds and false promotions per rule; and
its verdicts on a stored loop (real FiftyOne and gate, `FakeDetector`, no training)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from agent.bootstrap import build_deps
from agent.control.runner import LoopDriver
from agent.control.workspaces import init_workspace
from agent.settings import Settings
from scripts.replay_gate import (
    better_on_test,
    child_options,
    replay_candidate,
    summary,
    summary_lines,
)
from tests.conftest import TINY_WORLD
from tests.fakes import FakeDetector


@pytest.mark.parametrize(
    ("worst2", "map50", "better"),
    [(0.01, 0.0, True), (0.01, -0.01, True), (0.01, -0.011, False), (0.0, 0.02, False)],
    ids=["up", "map50-at-limit", "map50-beyond", "worst-two-flat"],
)
def test_better_means_worst_two_up_and_map50_at_most_0_01_down(
    worst2: float, map50: float, better: bool
) -> None:
    assert better_on_test(worst2, map50) is better


def test_a_candidate_without_test_figures_is_not_graded() -> None:
    assert better_on_test(None, 0.05) is None


def _row(
    today: bool, evidence: bool, better: bool | None, worst: bool = False, gain: float = 0.0
) -> dict[str, Any]:
    return {
        "today": today,
        "bound": False,
        "evidence": evidence,
        "noninferior": True,
        "worst": worst,
        "evidence_worst": worst,
        "better": better,
        "test_worst2_gain": gain,
    }


def test_false_holds_and_false_promotions_are_counted_side_by_side() -> None:
    rows = [
        _row(today=False, evidence=True, better=True, gain=0.1),  # held by today's gate only
        _row(today=False, evidence=False, better=True, gain=0.05),  # held back by both
        _row(today=True, evidence=True, better=True, worst=True, gain=0.02),
        _row(today=True, evidence=False, better=False, gain=-0.01),  # promoted, not better
        _row(today=True, evidence=True, better=None),  # no test figure: not graded
    ]
    today, evidence = summary(rows, "today"), summary(rows, "evidence")
    assert (today["graded"], today["better"]) == (4, 3)
    assert (today["false_holds"], today["false_promotions"]) == (2, 1)
    assert today["false_hold_share"] == pytest.approx(2 / 3)
    assert (evidence["false_holds"], evidence["false_promotions"]) == (1, 0)
    # In recall: today's promotions shipped +0.02 - 0.01, lost 0.01, and forwent 0.1 + 0.05.
    assert (today["shipped"], today["lost"], today["forgone"]) == pytest.approx((0.01, -0.01, 0.15))
    lines = summary_lines(rows)
    assert "| today | 4 | 3 | 2 | 2 (67% of the better) | 1 | +0.010 | -0.010 | +0.150 |" in lines
    assert (
        "| evidence | 4 | 3 | 2 | 1 (33% of the better) | 0 | +0.120 | +0.000 | +0.050 |" in lines
    )
    # The harm-only rule promoted all four: no false hold, one false promotion.
    assert (
        "| noninferior | 4 | 3 | 4 | 0 (0% of the better) | 1 | +0.160 | -0.010 | +0.000 |" in lines
    )
    # The worst-slices objective, judged on the same candidates, has rows of its own.
    assert "| worst | 4 | 3 | 1 | 2 (67% of the better) | 0 | +0.020 | +0.000 | +0.150 |" in lines
    assert (
        "| evidence_worst | 4 | 3 | 1 | 2 (67% of the better) | 0 | +0.020 | +0.000 | +0.150 |"
        in lines
    )


@pytest.mark.parametrize("deployed", [False, True], ids=["field-only", "deploy-images"])
def test_the_replay_reproduces_the_loops_verdicts_and_judges_the_worst_slices_too(
    tmp_path: Path, deployed: bool
) -> None:
    workspace, world = tmp_path / "ws", tmp_path / "world.yaml"
    world.write_text(TINY_WORLD)
    loop: dict[str, Any] = {"min_support": 3}
    if deployed:  # unlabelled deployment images, darker than the field
        (tmp_path / "deploy").mkdir()
        for index in range(4):
            dark = np.full((48, 48, 3), 20 + 60 * (index == 0), dtype=np.uint8)
            Image.fromarray(dark).save(tmp_path / "deploy" / f"{index}.png")
        loop["deploy_images"] = str(tmp_path / "deploy")
    init_workspace(workspace, world, settings_values={"loop": loop})
    deps = build_deps(Settings.load(workspace))
    field = deps.datasets.field()
    paths = [str(s.path) for s in deps.datasets.samples(field)]
    truth = dict(zip(paths, deps.datasets.labels(field), strict=True))
    deps.detector = detector = FakeDetector(truth, deps.settings.classes, 0.3)
    weights = detector.save(workspace / "models" / "v1" / "weights.pt", 0.5)
    deps.registry.add_model("v1", weights, None, "incumbent", {})
    outcome = LoopDriver(deps).start(cycles=2, budget=24, auto_approve=True)
    while outcome.waiting is not None:
        outcome = LoopDriver(deps).decide(outcome.waiting.batch_id, True, "tester")
    current = LoopDriver(deps).current()
    assert current is not None and current.state is not None
    records = [r for r in current.state.history if r.candidate]
    assert records
    carried: dict[str, tuple[str, str]] = {}
    for record in records:
        key = f"{current.loop_id}/c{record.cycle}/r0"
        row, carried = replay_candidate(deps, key, record, ["class=car"], 0.9, carried)
        # The loop ran today's rule (margins, on its targets): the replay decides as it did.
        assert row["today"] is record.promoted
        # The harm-only rule: a verdict and its line.
        assert isinstance(row["noninferior"], bool) and row["noninferior_line"]
        # The same candidate judged on the worst val slices, with the slices named.
        assert isinstance(row["worst"], bool) and isinstance(row["evidence_worst"], bool)
        assert "; objective: worst val slices " in row["evidence_worst_line"]
        assert "objective: worst" not in row["evidence_line"]
        # On val weighted to the deployment: judged where the workspace has its images, and
        # left out of every count where it has none.
        for rule in ("deployment", "evidence_deployment", "noninferior_deployment"):
            assert isinstance(row[rule], bool) if deployed else row[rule] is None
        if deployed:
            assert (
                "; objective: val weighted to the deployment (" in row["evidence_deployment_line"]
            )
        else:
            assert summary([row], "deployment")["graded"] == 0


def test_a_child_writes_its_rows_where_the_parent_reads_them_not_where_the_user_asked() -> None:
    args = argparse.Namespace(confidence=0.8, arms="targeted", seeds="0", json=Path("all.json"))
    assert child_options(args) == ["--confidence", "0.8", "--arms", "targeted", "--seeds", "0"]
    unset = argparse.Namespace(confidence=0.9, arms=None, seeds=None, json=None)
    assert child_options(unset) == ["--confidence", "0.9"]
