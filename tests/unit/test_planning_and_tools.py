"""Planner budgets and prompts, the offline analyst, the procedural generator and the truth labeler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.steps.prompts import allocate, plan_requests, prompt_for, revise
from evaluation.slices import FailureSlice
from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions, SliceEvidence
from tools.analyst.offline import OfflineAnalyst
from tools.convert import class_ids, make_detections
from tools.generator.base import EditSource, GenerationRequest
from tools.generator.procedural import ProceduralGenerator
from tools.labeler.truth import SceneTruthLabeler, check_labels
from tools.world.render import RenderResult, render
from tools.world.sampler import restage_scene, sample_scene
from tools.world.scene import Conditions

CLASSES = ["car", "person", "sign"]


@pytest.mark.parametrize(
    ("scores", "total", "floor", "expected"),
    [
        ([3, 1], 100, 0.0, [75, 25]),
        ([1, 0], 10, 0.2, [8, 2]),
        ([], 10, 0.1, []),
        ([1, 1, 1], 10, 0.1, [4, 3, 3]),
    ],
)
def test_allocate_is_proportional_with_a_floor(scores, total, floor, expected) -> None:
    assert allocate(scores, total, floor) == expected


def test_prompt_template_reads_subject_action_environment_lighting_viewpoint() -> None:
    prompt = prompt_for(
        "person",
        {"lighting": "night", "weather": "fog", "distance": "far", "crowding": "sparse"},
        0,
    )
    assert prompt == "a pedestrian walking on a foggy street, at night, seen from far away"


def _evidence(conditions: dict[str, str], stats: dict[str, float]) -> SliceEvidence:
    return SliceEvidence(
        slice_name=" & ".join(f"{k}={v}" for k, v in conditions.items()),
        conditions=conditions,
        support=40,
        recall=0.2,
        deficit=0.4,
        stats=stats,
        example_ids=["x"],
    )


@pytest.mark.parametrize(
    ("conditions", "stats", "expected"),
    [
        ({"brightness": "low"}, {"brightness": 30}, {"lighting": "night"}),
        ({"brightness": "low"}, {"brightness": 80}, {"lighting": "dusk"}),
        ({"sharpness": "low"}, {"sharpness": 40, "brightness": 100}, {"weather": "fog"}),
        ({"streaks": "high"}, {"brightness": 60}, {"weather": "rain"}),
        ({"box_size": "low", "class": "person"}, {"brightness": 120}, {"distance": "far"}),
        ({"overlap": "high"}, {"brightness": 120}, {"crowding": "dense"}),
    ],
)
def test_offline_analyst_maps_statistics_to_scene_conditions(conditions, stats, expected) -> None:
    analysis = OfflineAnalyst().analyze([_evidence(conditions, stats)], CLASSES)
    hypothesis = analysis.hypotheses[0]
    assert hypothesis.conditions.given() == expected
    assert hypothesis.evidence_ids == ["x"] and 0 <= hypothesis.confidence <= 1
    assert hypothesis.classes == ([conditions["class"]] if "class" in conditions else [])


def test_plan_fixes_blamed_conditions_and_varies_the_rest(tmp_path: Path) -> None:
    analysis = OfflineAnalyst().analyze(
        [_evidence({"brightness": "low", "class": "person"}, {"brightness": 30})], CLASSES
    )
    failure = FailureSlice(
        name=analysis.hypotheses[0].slice_name,
        conditions={},
        support=40,
        recall=0.2,
        deficit=0.4,
        score=0.1,
    )
    sources = [EditSource("s1", "s1.jpg", [(10.0, 10.0, 30.0, 60.0, "person")])]
    requests = plan_requests(
        analysis, [failure], 30, CLASSES, seed=1, batch_id="b", edit_sources=sources, edit_share=0.5
    )
    assert len(requests) == 30 and len({r.id for r in requests}) == 30
    assert all(
        r.conditions["lighting"] == "night" and r.class_focus == ["person"] for r in requests
    )
    assert len({r.conditions["weather"] for r in requests}) > 1
    assert {r.mode for r in requests} == {"generate", "edit"}
    assert plan_requests(analysis, [failure], 30, CLASSES, 1, "b") == plan_requests(
        analysis, [failure], 30, CLASSES, 1, "b"
    )


def test_revise_turns_scores_into_plan_changes() -> None:
    assert revise({"unvaried": 0.5}, 0.0, 0.0)[:2] == (0.5, 0.0)
    assert revise({"unrealistic": 0.99}, 0.0, 0.0)[:2] == (0.0, 0.5)


def _rendered(request: GenerationRequest, size: int) -> RenderResult:
    """The scene a request describes, rendered directly: the truth the labels must match."""
    assert not request.class_focus  # the renderer's default class mix
    conditions = Conditions.model_validate(request.conditions)
    if request.mode == "edit":
        return render(restage_scene(request.source_boxes, conditions, request.seed, size))
    return render(sample_scene(conditions, request.seed, size))


def test_generator_and_truth_labeler_produce_exact_labels(tmp_path: Path) -> None:
    analysis = OfflineAnalyst().analyze([_evidence({"box_size": "low"}, {})], CLASSES)
    failure = FailureSlice(
        name=analysis.hypotheses[0].slice_name,
        conditions={},
        support=40,
        recall=0.2,
        deficit=0.4,
        score=0.1,
    )
    requests = plan_requests(
        analysis,
        [failure],
        6,
        CLASSES,
        seed=2,
        batch_id="b",
        realism=0.5,
        edit_sources=[EditSource("s", "s.jpg", [(20.0, 30.0, 40.0, 70.0, "car")])],
        edit_share=0.5,
    )
    requests[0] = requests[0].model_copy(
        update={"conditions": {"lighting": "noon"}}
    )  # broken request
    images, failed = ProceduralGenerator().generate(requests, tmp_path, 64)
    assert list(failed) == [requests[0].id] and len(images) == 5
    labels = SceneTruthLabeler().label(images, CLASSES)
    served = {r.id: r for r in requests[1:]}
    assert {r.mode for r in served.values()} == {"generate", "edit"}  # both paths are checked
    for image, detections in zip(images, labels, strict=True):
        assert detections is not None
        assert Image.open(image.path).size == (64, 64)
        # Exact: the boxes and classes of the objects the renderer drew, none more, none less.
        truth = _rendered(served[image.request_id], 64)
        np.testing.assert_array_equal(detections.xyxy, truth.boxes)
        np.testing.assert_array_equal(class_ids(detections), truth.class_ids)
    assert sum(len(d) for d in labels if d is not None) > 0
    again, _ = ProceduralGenerator().generate(requests[1:2], tmp_path / "again", 64)
    assert np.array_equal(
        np.asarray(Image.open(again[0].path)), np.asarray(Image.open(images[0].path))
    )


def test_label_check_drops_degenerate_boxes() -> None:
    detections = make_detections(
        np.array([[0, 0, 10, 10], [5, 5, 5.5, 20], [60, 60, 90, 90]]), np.array([0, 1, 2])
    )
    kept, dropped = check_labels(detections, 64, 64)
    assert len(kept) == 1 and dropped == 2


def _hypothesis_slice(
    name: str, score: float, classes: list[str], **blamed: str
) -> tuple[Hypothesis, FailureSlice]:
    hypothesis = Hypothesis(
        slice_name=name,
        what_fails=name,
        why="test",
        conditions=SceneConditions.model_validate(blamed),
        classes=classes,
        confidence=0.8,
    )
    failure = FailureSlice(
        name=name, conditions={}, support=50, recall=0.3, deficit=0.3, score=score
    )
    return hypothesis, failure


def test_concentrating_turns_a_class_only_slice_into_focus_not_budget() -> None:
    far, far_slice = _hypothesis_slice("far", 0.2, [], distance="far")
    dense, dense_slice = _hypothesis_slice("dense", 0.1, [], crowding="dense")
    signs, signs_slice = _hypothesis_slice("class=sign", 0.2, ["sign"])
    analysis = FailureAnalysis(analyst="test", hypotheses=[far, dense, signs])
    slices = [far_slice, dense_slice, signs_slice]
    diluted = plan_requests(analysis, slices, 90, CLASSES, 1, "b")
    assert sum(r.slice_name == "class=sign" for r in diluted) >= 30  # a third on signs alone
    concentrated = plan_requests(analysis, slices, 90, CLASSES, 1, "b", concentrate=True)
    assert {r.slice_name for r in concentrated} == {"far", "dense"} and len(concentrated) == 90
    assert all("sign" in r.class_focus for r in concentrated)
    assert sum(r.conditions["distance"] == "far" for r in concentrated) >= 60


def _half_edited_plan(
    pairs: list[tuple[Hypothesis, FailureSlice]], fit_layouts: bool = False
) -> list[GenerationRequest]:
    """A concentrated 100-image plan over `pairs`, half of it edits of one real layout."""
    return plan_requests(
        FailureAnalysis(analyst="test", hypotheses=[h for h, _ in pairs]),
        [s for _, s in pairs],
        100,
        CLASSES,
        2,
        "b",
        edit_sources=[EditSource("s1", "s1.jpg", [(10.0, 10.0, 30.0, 60.0, "person")])],
        edit_share=0.5,
        concentrate=True,
        fit_layouts=fit_layouts,
    )


def test_blamed_distance_and_crowding_survive_edits() -> None:
    far = _hypothesis_slice("far", 0.2, [], distance="far")
    night = _hypothesis_slice("night", 0.2, [], lighting="night")
    requests = _half_edited_plan([far, night])
    # A re-staged layout keeps its own distance: far requests are generated, night ones edited.
    assert {r.mode for r in requests if r.slice_name == "far"} == {"generate"}
    assert {r.mode for r in requests if r.slice_name == "night"} == {"generate", "edit"}


def test_edits_that_fit_their_layout_serve_distance_and_crowding_hypotheses() -> None:
    far = _hypothesis_slice("far", 0.2, [], distance="far")
    dense = _hypothesis_slice("dense", 0.2, [], crowding="dense")
    requests = _half_edited_plan([far, dense], fit_layouts=True)
    edits = [r for r in requests if r.mode == "edit"]
    assert {r.slice_name for r in edits} == {"far", "dense"}
    # Each edit asks the generator to move its layout to the blamed distance or crowding.
    assert all(r.layout == "fit" and r.source_boxes for r in edits)
    assert all(r.conditions["distance"] == "far" for r in edits if r.slice_name == "far")
    assert all(r.conditions["crowding"] == "dense" for r in edits if r.slice_name == "dense")
    assert {r.layout for r in requests if r.mode == "generate"} == {"keep"}


def test_free_conditions_follow_the_misses() -> None:
    far, far_slice = _hypothesis_slice("far", 0.2, [], distance="far")
    analysis = FailureAnalysis(analyst="test", hypotheses=[far])
    weights = {"far": {"lighting": {"day": 0.1, "dusk": 0.1, "night": 0.8}}}
    requests = plan_requests(analysis, [far_slice], 200, CLASSES, 3, "b", free_weights=weights)
    night = sum(r.conditions["lighting"] == "night" for r in requests) / 200
    assert night == pytest.approx(0.8, abs=0.08)
    assert all(r.conditions["distance"] == "far" for r in requests)
    # Conditions without weights stay uniform.
    assert len({r.conditions["weather"] for r in requests}) == 4


def test_combined_blame_makes_each_image_serve_every_target_slice() -> None:
    far, far_slice = _hypothesis_slice("far", 0.2, [], distance="far")
    dense, dense_slice = _hypothesis_slice("dense", 0.1, [], crowding="dense")
    analysis = FailureAnalysis(analyst="test", hypotheses=[far, dense])
    slices = [far_slice, dense_slice]

    def shares(requests: list[GenerationRequest]) -> tuple[float, float]:
        n = len(requests)
        return (
            sum(r.conditions["distance"] == "far" for r in requests) / n,
            sum(r.conditions["crowding"] == "dense" for r in requests) / n,
        )

    apart = plan_requests(analysis, slices, 200, CLASSES, 4, "b", edit_share=0.0)
    together = plan_requests(analysis, slices, 200, CLASSES, 4, "b", edit_share=0.0, combine=1.0)
    far_apart, dense_apart = shares(apart)
    assert far_apart < 0.85 and dense_apart < 0.75  # each slice's images are only its own
    assert shares(together) == (1.0, 1.0)  # far and dense in every image
    # What neither hypothesis blames stays free.
    assert len({r.conditions["lighting"] for r in together}) == 3
    half = plan_requests(analysis, slices, 400, CLASSES, 4, "b", edit_share=0.0, combine=0.5)
    assert 0.8 < shares(half)[0] < 0.95


def test_class_only_slices_can_be_dropped_without_lending_focus() -> None:
    far, far_slice = _hypothesis_slice("far", 0.2, [], distance="far")
    signs, signs_slice = _hypothesis_slice("class=sign", 0.2, ["sign"])
    analysis = FailureAnalysis(analyst="test", hypotheses=[far, signs])
    plain = plan_requests(
        analysis, [far_slice, signs_slice], 40, CLASSES, 1, "b", concentrate=True, lend_focus=False
    )
    assert {r.slice_name for r in plain} == {"far"} and len(plain) == 40
    assert all(r.class_focus == [] for r in plain)
