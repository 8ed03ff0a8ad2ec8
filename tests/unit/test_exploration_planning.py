"""Exploration wired into the targeted plan (`loop.exploration`): off plans as before; thompson
gives the share `plan_exploration` draws to images in conditions no hypothesis blames."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.ports import Budget
from agent.settings import Settings
from agent.state import CycleRecord, LoopState
from agent.steps import explore_plan, planning
from agent.steps.condition_reads import deployment_prevalence
from agent.steps.explore_plan import EXPLORE
from agent.steps.prompts import plan_requests
from evaluation.slices import FailureSlice
from tests.fakes import FieldDatasets, night_misses_table
from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions
from tools.vocabulary import CONDITIONS
from tools.world.config import WorldConfig
from tools.world.field import FieldImage, render_field

CLASSES = ["car", "person", "sign"]
BLAMED = {"distance": "far", "crowding": "dense"}
ANALYSIS = FailureAnalysis(
    analyst="t",
    hypotheses=[
        Hypothesis(
            slice_name=value,
            what_fails="",
            why="",
            confidence=1,
            conditions=SceneConditions.model_validate({name: value}),
        )
        for name, value in BLAMED.items()
    ],
)
SLICES = [
    FailureSlice(name=v, conditions={}, support=50, recall=0.4, deficit=0.3, score=0.2)
    for v in BLAMED.values()
]


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory) -> list[FieldImage]:
    folder = tmp_path_factory.mktemp("field")
    return [i for i in render_field(WorldConfig(), folder, "val", count=60) if len(i.boxes)]


class Registry:
    """The registry's step records and events, in memory."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []

    def record_step(self, key: str, result: dict[str, Any]) -> dict[str, Any]:
        return self.steps.setdefault(key, result)

    def log_once(self, key: str, kind: str, *where: Any, **payload: Any) -> None:
        self.events.append((kind, payload))


def _deps(tmp_path: Path, field: list[FieldImage], **loop: Any) -> Any:
    settings = Settings(workspace=tmp_path, workspace_id="plan", loop=loop)
    return SimpleNamespace(
        settings=settings, datasets=FieldDatasets(field, 160), registry=Registry()
    )


def _plan(
    deps: Any, monkeypatch: pytest.MonkeyPatch, field: list[FieldImage], confirmed: int = 0
) -> list[Any]:
    # One object per val image: the incumbent misses those of night images.
    table = night_misses_table(field)
    monkeypatch.setattr(explore_plan, "val_object_table", lambda deps, model: table)
    monkeypatch.setattr(planning, "edit_sources", lambda deps, seed: [])
    history = [
        CycleRecord(
            cycle=c,
            batch_id=f"b{c}",
            approved=True,
            images=10,
            candidate=None,
            promoted=True,
            outcomes=dict.fromkeys(BLAMED.values(), "confirmed"),
        )
        for c in range(1, confirmed + 1)
    ]
    state = LoopState(
        loop_id="l",
        max_cycles=9,
        budget=900,
        incumbent="v1",
        slices=SLICES,
        analysis=ANALYSIS,
        history=history,
    )
    return planning.PLANNERS["targeted"]().plan(deps, state, Budget(100, "b", 5))


def _aimed(images: int) -> list[Any]:
    """What the targeted planner asks for without exploration, for `images` images."""
    return plan_requests(
        ANALYSIS, SLICES, images, CLASSES, 5, "b", 0.15, 0.3, [], concentrate=True, combine=1.0
    )


def test_off_plans_exactly_as_without_exploration(
    tmp_path: Path, field: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = _deps(tmp_path, field)
    assert deps.settings.loop.exploration == "off"
    assert _plan(deps, monkeypatch, field) == _aimed(100)
    assert deps.registry.steps == {} and deps.registry.events == []


def test_thompson_explores_unblamed_conditions_with_its_share_of_the_batch(
    tmp_path: Path, field: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = _deps(tmp_path, field, exploration="thompson")
    requests = _plan(deps, monkeypatch, field)
    (record,) = deps.registry.steps.values()
    explored = [r for r in requests if r.slice_name == EXPLORE]
    assert len(requests) == 100 and len({r.id for r in requests}) == 100
    assert record["images"] == len(explored) == round(record["share"] * 100) > 0
    assert 0.05 <= record["share"] <= 0.4 and record["reason"]
    # Each image explores one value no hypothesis blames; the aimed rest is the plan without
    # exploration on the images left.
    assert sum(record["explored"].values()) == len(explored)
    for key in record["explored"]:
        name, _, value = key.partition("=")
        assert BLAMED.get(name) != value and value in CONDITIONS[name]
    assert all(r.mode == "generate" for r in explored)
    assert requests[: 100 - len(explored)] == _aimed(100 - len(explored))
    assert deps.registry.events == [("batch_explored", record)]


def test_the_share_shrinks_as_earlier_aims_are_confirmed(
    tmp_path: Path, field: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explored(confirmed: int) -> int:
        deps = _deps(
            tmp_path, field, exploration="thompson", explore_share_min=0.0, explore_share_max=1.0
        )
        requests = _plan(deps, monkeypatch, field, confirmed)
        return sum(r.slice_name == EXPLORE for r in requests)

    before, after = explored(0), explored(6)
    assert after < before, (before, after)


def test_a_value_deployment_shows_and_val_lacks_weighs_more_than_one() -> None:
    val = [{"lighting": "day", "weather": "clear"}] * 90 + [
        {"lighting": "dusk", "weather": "rain"}
    ] * 10
    deployed = [{"lighting": "day", "weather": "snow"}] * 20 + [
        {"lighting": "day", "weather": "clear"}
    ] * 20
    prevalence = deployment_prevalence(deployed, val, CONDITIONS)
    # Snow: (20 + 1) / (40 + 4) in deployment over (0 + 1) / (100 + 4) on val.
    assert prevalence["weather"]["snow"] == pytest.approx(21 / 44 * 104)
    assert prevalence["weather"]["snow"] > 10 > 1 > prevalence["weather"]["rain"]
    assert prevalence["lighting"]["dusk"] < 1 < prevalence["lighting"]["day"]
    # Distance and crowding need boxes the deployment images do not have: left at 1 (absent).
    assert set(prevalence) == {"lighting", "weather"}


def test_the_reviewer_reads_what_the_batch_explores_and_why(
    tmp_path: Path, field: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.entry.review import exploration_line

    deps = _deps(tmp_path, field, exploration="thompson")
    _plan(deps, monkeypatch, field)
    (record,) = deps.registry.steps.values()
    line = exploration_line(record)
    assert line.startswith(f"Exploring {record['images']} of 100 images (")
    assert record["reason"] in line and all(key in line for key in record["explored"])
    assert exploration_line(None) == ""


def test_deployment_images_weigh_the_draws_when_given(
    tmp_path: Path, field: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    seen: list[Any] = []
    real = explore_plan.plan_exploration

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[-1])  # prevalence, passed last
        return real(*args, **kwargs)

    monkeypatch.setattr(explore_plan, "plan_exploration", spy)
    (tmp_path / "deploy").mkdir()
    for image in field[:10]:
        shutil.copy(image.path, tmp_path / "deploy" / image.path.name)
    deps = _deps(tmp_path, field, exploration="thompson", deploy_images="deploy")
    assert sum(r.slice_name == EXPLORE for r in _plan(deps, monkeypatch, field)) > 0
    [prevalence] = seen
    assert set(prevalence) == {"lighting", "weather"}
    assert all(w > 0 for values in prevalence.values() for w in values.values())
