"""`loop.blamed_values: deployment`: a hypothesis' lighting and weather drawn by the misses
they would meet in deployment instead of fixed at the value the analyst blamed."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.settings import Settings
from agent.steps import aim_weights
from agent.steps.prompts import plan_requests
from evaluation.slices import FailureSlice
from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions

CLASSES = ["car", "person", "sign"]


def _dark_far() -> tuple[FailureAnalysis, list[FailureSlice]]:
    """One hypothesis: dark, far objects are missed, blamed on night and distance."""
    hypothesis = Hypothesis(
        slice_name="dark",
        what_fails="dark far objects",
        why="test",
        conditions=SceneConditions(lighting="night", distance="far"),
        confidence=0.8,
    )
    failure = FailureSlice(name="dark", conditions={}, support=50, recall=0.3, deficit=0.3, score=1)
    return FailureAnalysis(analyst="test", hypotheses=[hypothesis]), [failure]


def test_a_blamed_condition_is_drawn_by_its_weights_and_the_rest_stays_blamed() -> None:
    analysis, slices = _dark_far()
    blamed = plan_requests(analysis, slices, 300, CLASSES, 3, "b")
    assert {r.conditions["lighting"] for r in blamed} == {"night"}  # as the analyst said
    weights = {"dark": {"lighting": {"day": 0.05, "dusk": 0.6, "night": 0.35}}}
    drawn = plan_requests(analysis, slices, 300, CLASSES, 3, "b", blamed_weights=weights)
    share = {
        v: sum(r.conditions["lighting"] == v for r in drawn) / 300
        for v in weights["dark"]["lighting"]
    }
    assert share == pytest.approx({"day": 0.05, "dusk": 0.6, "night": 0.35}, abs=0.07)
    assert all(r.conditions["distance"] == "far" for r in drawn)  # not weighted: as blamed
    # A condition the hypothesis does not blame is not touched by the blamed weights.
    weather = {"dark": {"weather": {"snow": 1.0}}}
    plain = plan_requests(analysis, slices, 300, CLASSES, 3, "b", blamed_weights=weather)
    assert plain == blamed


def test_the_weights_are_the_miss_rate_times_the_deployments_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ten deployment images: eight at dusk, one at night, one by day, all clear.
    lightings = ["dusk"] * 8 + ["night", "day"]
    paths = [Path(f"deploy/{i}.jpg") for i in range(10)]
    reads = {
        str(p): {"lighting": v, "weather": "clear"} for p, v in zip(paths, lightings, strict=True)
    }
    monkeypatch.setattr(aim_weights, "deployment_paths", lambda deps: paths)
    monkeypatch.setattr(aim_weights, "pixel_conditions", lambda path: reads[path])
    # The slice misses as often at dusk as at night on val, rarely by day.
    rates = {
        "lighting": {"day": 0.1, "dusk": 0.7, "night": 0.7},
        "weather": dict.fromkeys(["clear", "fog", "rain", "snow"], 0.5),
    }
    deps: Any = SimpleNamespace()  # read only through the two patched functions
    weights = aim_weights.deployment_miss_weights(deps, {"dark": rates})
    lighting = weights["dark"]["lighting"]
    # Shares smoothed over three values: dusk 9/13, night 2/13, day 2/13.
    assert lighting == pytest.approx(
        {"day": 0.1 * 2 / 13, "dusk": 0.7 * 9 / 13, "night": 0.7 * 2 / 13}
    )
    assert set(weights["dark"]) == {"lighting", "weather"}  # distance and crowding: not read


def test_deployment_without_deployment_images_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("set loop.deploy_images to a folder of them")):
        Settings(workspace=tmp_path, workspace_id="w", loop={"blamed_values": "deployment"})
    assert Settings(workspace=tmp_path, workspace_id="w").loop.blamed_values == "analyst"
