"""A workspace of the user's own photographs: analysis and planning in measured attributes and the
user's classes, never street scenes; no class name can crash a step; the renderer is refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from agent.ports import Budget
from agent.settings import Settings
from agent.state import LoopState
from agent.steps.planning import PLANNERS
from agent.steps.prompts import prompt_for
from evaluation.slices import FailureSlice, ObjectTable, bin_edges
from storage.workspace import WorkspaceError
from tests.fakes import FieldDatasets
from tools.analyst.base import SliceEvidence
from tools.analyst.offline import OfflineAnalyst
from tools.analyst.parsing import parse_answer
from tools.world.config import WorldConfig
from tools.world.field import FieldImage, render_field

CLASSES = ["WBC", "RBC", "Platelets"]
STREET_WORDS = ("street", "road", "car", "pedestrian", "fog", "night", "far", "dense")


@pytest.fixture(scope="module")
def photographs(tmp_path_factory: pytest.TempPathFactory) -> list[FieldImage]:
    # Any labelled images serve as the user's train split here; their classes are renamed.
    folder = tmp_path_factory.mktemp("photos")
    return [i for i in render_field(WorldConfig(), folder, "train", count=30) if len(i.boxes)]


def _table(seed: int = 0) -> ObjectTable:
    """200 val objects: Platelets small (0.02-0.04 of the side) and mostly missed; the rest large
    and found; brightness spread evenly."""
    rng = np.random.default_rng(seed)
    classes = np.array(["Platelets"] * 60 + ["RBC"] * 120 + ["WBC"] * 20)
    size = np.where(
        classes == "Platelets", rng.uniform(0.02, 0.04, 200), rng.uniform(0.1, 0.3, 200)
    )
    found = np.where(classes == "Platelets", rng.random(200) < 0.15, rng.random(200) < 0.9)
    values = {
        "box_size": size,
        "overlap": rng.uniform(0, 0.3, 200),
        "brightness": rng.uniform(60, 200, 200),
        "contrast": rng.uniform(20, 60, 200),
        "haze": rng.uniform(30, 120, 200),
        "sharpness": rng.uniform(50, 900, 200),
    }
    return ObjectTable([f"v{k % 50}" for k in range(200)], classes, values, found)


def _deps(tmp_path: Path, images: list[FieldImage], **loop: Any) -> Any:
    settings = Settings(
        workspace=tmp_path, workspace_id="photos", world=None, classes=CLASSES, loop=loop
    )
    return SimpleNamespace(settings=settings, datasets=FieldDatasets(images, 160))


def _evidence(conditions: dict[str, str], stats: dict[str, float]) -> SliceEvidence:
    name = " & ".join(f"{k}={v}" for k, v in conditions.items())
    return SliceEvidence(
        slice_name=name,
        conditions=conditions,
        support=83,
        recall=0.14,
        deficit=0.7,
        stats=stats,
        overall_stats={"box_size": 0.12, "overlap": 0.05, "brightness": 150.0},
        vocabulary="attributes",
    )


def test_a_class_outside_every_vocabulary_reads_as_words() -> None:
    for variant in range(5):
        text = prompt_for("Platelets", {}, variant)
        assert text.startswith("a Platelets")
    assert "at night" in prompt_for("Platelets", {"lighting": "night"}, 4)


def test_a_class_slice_is_explained_by_what_sets_its_objects_apart() -> None:
    hypothesis = OfflineAnalyst().explain(
        _evidence({"class": "Platelets"}, {"box_size": 0.03, "overlap": 0.04, "brightness": 150})
    )
    assert hypothesis.attributes == {"box_size": "low"}
    assert hypothesis.classes == ["Platelets"]
    assert hypothesis.conditions.given() == {}
    assert "small objects" in hypothesis.why and "0.03" in hypothesis.why
    words = " ".join([hypothesis.what_fails, hypothesis.why, *hypothesis.suggested_prompts])
    assert not any(w in words.lower().split() for w in STREET_WORDS), words


def test_an_attribute_slice_blames_its_own_bins() -> None:
    hypothesis = OfflineAnalyst().explain(
        _evidence({"haze": "high", "sharpness": "high"}, {"haze": 110.0, "sharpness": 800.0})
    )
    assert hypothesis.attributes == {"haze": "high", "sharpness": "high"}
    assert hypothesis.classes == [] and hypothesis.conditions.given() == {}


def test_a_model_answer_keeps_only_measured_attributes() -> None:
    answer = parse_answer(
        '{"what_fails": "x", "why": "y", "confidence": 0.5, "classes": ["Platelets", "car"],'
        ' "attributes": {"box_size": "lowest", "weather": "fog", "haze": "very"}}',
        CLASSES,
    )
    assert answer.attributes == {"box_size": "lowest"} and answer.classes == ["Platelets"]


def _state(slices: list[FailureSlice], analysis: Any = None) -> LoopState:
    return LoopState(
        loop_id="l",
        max_cycles=1,
        budget=600,
        incumbent="v1",
        slices=slices,
        analysis=analysis,
    )


def test_the_targeted_plan_pastes_the_missed_class_at_the_sizes_it_misses(
    tmp_path: Path, photographs: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.steps import planning

    table = _table()
    monkeypatch.setattr(planning, "val_object_table", lambda deps, model: table)
    platelets = FailureSlice(
        name="class=Platelets",
        conditions={"class": "Platelets"},
        support=60,
        recall=0.15,
        deficit=0.6,
        score=0.2,
        stats={"box_size": 0.03, "overlap": 0.15},
        overall_stats={"box_size": 0.15, "overlap": 0.15},
    )
    evidence = _evidence(platelets.conditions, platelets.stats).model_copy(
        update={"overall_stats": platelets.overall_stats, "slice_name": platelets.name}
    )
    analysis = OfflineAnalyst().analyze([evidence], CLASSES)
    deps = _deps(tmp_path, photographs)
    requests = PLANNERS["targeted"]().plan(
        deps, _state([platelets], analysis), Budget(40, "b", seed=2)
    )
    assert len(requests) == 40
    assert all(r.mode == "paste" and r.class_focus == ["Platelets"] for r in requests)
    low, high = requests[0].targets["box_size"]
    missed = table.values["box_size"][(table.classes == "Platelets") & ~table.found]
    assert missed.min() <= low < high <= missed.max()
    train = {str(i.path) for i in photographs}
    assert all(r.source_path in train and r.source_boxes for r in requests)
    assert all(b[4] in CLASSES for r in requests for b in r.source_boxes)
    assert not any(w in r.prompt for r in requests for w in STREET_WORDS)


def test_uniform_spreads_every_attribute_over_its_bins(
    tmp_path: Path, photographs: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.steps import planning

    table = _table()
    monkeypatch.setattr(planning, "val_object_table", lambda deps, model: table)
    state = _state([]).model_copy(update={"bin_edges": bin_edges(table)})
    requests = PLANNERS["uniform"]().plan(
        _deps(tmp_path, photographs), state, Budget(500, "b", seed=1)
    )
    darkest = bin_edges(table)["brightness"][0]
    dark = sum(r.targets["brightness"][1] <= darkest + 1e-9 for r in requests) / len(requests)
    assert dark == pytest.approx(1 / 5, abs=0.06)
    assert Counter(r.class_focus[0] for r in requests).keys() == set(CLASSES)


def test_generic_pastes_classes_as_common_as_in_the_field(
    tmp_path: Path, photographs: list[FieldImage]
) -> None:
    requests = PLANNERS["generic"]().plan(
        _deps(tmp_path, photographs), _state([]), Budget(300, "b", seed=1)
    )
    assert all(set(r.targets) == {"objects"} for r in requests)
    shares = Counter(r.class_focus[0] for r in requests)
    field = Counter(CLASSES[int(c)] for i in photographs for c in i.class_ids)
    assert max(shares, key=lambda c: shares[c]) == max(field, key=lambda c: field[c])


def test_the_oracle_aims_at_measured_slices_with_two_attributes(
    tmp_path: Path, photographs: list[FieldImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.steps import planning

    table = _table()
    monkeypatch.setattr(planning, "val_object_table", lambda deps, model: table)
    oracle = {"class=Platelets": 0.6, "brightness=lowest & box_size=low": 0.2}
    deps = _deps(tmp_path, photographs, oracle_slices=oracle)
    state = _state([]).model_copy(update={"bin_edges": bin_edges(table)})
    requests = PLANNERS["oracle"]().plan(deps, state, Budget(60, "b", seed=1))
    by_slice = Counter(r.slice_name for r in requests)
    assert by_slice["class=Platelets"] > by_slice["brightness=lowest & box_size=low"] > 0
    dark = [r for r in requests if r.slice_name.startswith("brightness")]
    assert all(r.targets["brightness"][1] <= bin_edges(table)["brightness"][0] + 1e-9 for r in dark)


def test_the_street_renderer_is_refused_for_photographs(tmp_path: Path) -> None:
    from agent.bootstrap import build_generator

    photos = Settings(workspace=tmp_path, world=None, classes=CLASSES)
    assert photos.generator_backend() == "paste" and photos.vocabulary() == "attributes"
    street = photos.model_copy(
        update={"backends": photos.backends.model_copy(update={"generator": "procedural"})}
    )
    with pytest.raises(WorkspaceError, match=r"backends\.generator to paste"):
        build_generator(street)
    assert Settings(workspace=tmp_path).generator_backend() == "procedural"
