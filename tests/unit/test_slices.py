"""Failure-slice discovery on handcrafted data where the answer is known."""

from __future__ import annotations

import numpy as np
from PIL import Image

from evaluation.scorecards import measure_scorecard
from evaluation.slices import (
    ObjectTable,
    bin_edges,
    build_object_table,
    discover_slices,
    image_statistics,
    match_found,
)
from tools.convert import empty_detections, make_detections


def _table(n: int = 900, seed: int = 0) -> ObjectTable:
    rng = np.random.default_rng(seed)
    values = {
        name: rng.uniform(0, 1, n)
        for name in (
            "brightness",
            "contrast",
            "haze",
            "streaks",
            "specks",
            "sharpness",
            "box_size",
            "overlap",
        )
    }
    classes = rng.choice(["car", "person", "sign"], n)
    # Known truth: small people are missed; everything else is found.
    found = ~((values["box_size"] < 0.1) & (classes == "person"))
    return ObjectTable([f"s{i // 3}" for i in range(n)], classes, values, found)


def test_the_planted_failure_is_the_top_slice() -> None:
    table = _table()
    edges = bin_edges(table)
    slices = discover_slices(table, edges, top_k=3, min_support=10)
    assert slices[0].conditions == {"box_size": "lowest", "class": "person"}
    assert slices[0].recall == 0.0 and slices[0].example_ids
    assert all(s.deficit > 0 for s in slices)
    # The gate measures the same slice the same way: no object found, the same objects.
    card = measure_scorecard(0.5, table, edges, {"small people": slices[0].conditions})
    assert card.slice_recall == {"small people": 0.0}
    assert card.slice_found["small people"] == [False] * slices[0].support


def test_nothing_is_found_when_nothing_fails_or_nothing_exists() -> None:
    table = _table()
    table.found[:] = True
    assert discover_slices(table, bin_edges(table)) == []
    empty = ObjectTable(
        [], np.array([]), {k: np.array([]) for k in table.values}, np.array([], bool)
    )
    assert discover_slices(empty, bin_edges(empty)) == []


def test_matching_respects_class_confidence_and_iou() -> None:
    truth = make_detections(np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([0, 1]))
    predicted = make_detections(
        np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]]),
        np.array([0, 0, 1]),
        np.array([0.9, 0.9, 0.1]),
    )
    assert match_found(truth, predicted, conf=0.25).tolist() == [True, False]
    assert match_found(truth, empty_detections(), conf=0.25).tolist() == [False, False]


def test_image_statistics_see_darkness_and_haze(tmp_path) -> None:
    dark, bright = tmp_path / "dark.png", tmp_path / "bright.png"
    Image.fromarray(np.full((32, 32, 3), 20, np.uint8)).save(dark)
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(bright)
    assert image_statistics(str(dark))["brightness"] < image_statistics(str(bright))["brightness"]
    assert image_statistics(str(dark))["haze"] < image_statistics(str(bright))["haze"]
    table = build_object_table(
        ["a"],
        [str(dark)],
        [32],
        [make_detections(np.array([[2, 2, 10, 10]]), np.array([1]))],
        [empty_detections()],
        ["car", "person", "sign"],
        0.25,
    )
    assert table.classes.tolist() == ["person"] and table.found.tolist() == [False]
    assert table.values["box_size"][0] == 8 / 32


def test_neighbouring_bins_of_a_chosen_slice_are_not_chosen_again() -> None:
    table = _table()
    table.found[:] = True
    table.found[table.values["box_size"] < 0.3] = False  # both the lowest and the low bin fail
    table.found[(table.values["overlap"] > 0.9)] = False
    slices = discover_slices(table, bin_edges(table), top_k=3, min_support=10)
    attributes = [tuple(sorted(s.conditions)) for s in slices]
    assert len(attributes) == len(set(attributes))
    assert ("box_size",) in attributes and ("overlap",) in attributes


def test_shrinkage_lets_a_small_reliable_failure_win() -> None:
    # 12 signs, all missed; 300 cars at 0.8 recall; 300 people all found.
    classes = np.array(["sign"] * 12 + ["car"] * 300 + ["person"] * 300)
    found = np.ones(len(classes), dtype=bool)
    found[:12] = False
    found[12:72] = False
    values = {"box_size": np.full(len(classes), 0.2)}
    table = ObjectTable([f"s{i}" for i in range(len(classes))], classes, values, found)
    edges = bin_edges(table)
    by_support = discover_slices(table, edges, top_k=1, min_support=10)
    assert by_support[0].conditions == {"class": "car"}  # deficit x support share favours size
    shrunk = discover_slices(table, edges, top_k=1, min_support=10, shrinkage=20)
    assert shrunk[0].conditions == {"class": "sign"}
    # Very strong shrinkage pulls the small slice to the mean: size wins again.
    assert discover_slices(table, edges, top_k=1, min_support=3, shrinkage=2000)[0].conditions == {
        "class": "car"
    }


def test_deficits_beyond_size_rank_what_size_does_not_explain() -> None:
    # Small objects are missed because they are small (a fifth of them found); dark images lose
    # half their objects whatever their size. Planted on a table where the two are independent.
    table = _table(n=3000, seed=1)
    rng = np.random.default_rng(2)
    small = table.values["box_size"] < 0.1
    dark = table.values["brightness"] < 0.1
    table.found = np.where(small, rng.random(3000) < 0.2, True) & ~(dark & (rng.random(3000) < 0.5))
    edges = bin_edges(table)
    plain = discover_slices(table, edges, top_k=1, min_support=10)
    assert plain[0].conditions == {"box_size": "lowest"}  # the largest raw deficit
    beyond = discover_slices(
        table, edges, top_k=2, min_support=10, adjust_for=("box_size", "overlap")
    )
    assert beyond[0].conditions == {"brightness": "lowest"}
    # Size explains the small objects' misses: beyond it, little of their deficit is left.
    for s in beyond:
        if s.conditions == {"box_size": "lowest"}:
            assert s.deficit < plain[0].deficit / 4
    # The dark slice's deficit is what it misses beyond its objects' sizes: about half its recall.
    assert 0.35 < beyond[0].deficit < 0.6


def test_a_failure_rare_in_the_field_but_common_in_deployment_wins() -> None:
    # Val: dark images are a twentieth of the objects and lose half of them; small objects are
    # a tenth and lose two thirds. Deployment: half of the images are dark.
    table = _table(n=3000, seed=3)
    rng = np.random.default_rng(4)
    dark = table.values["brightness"] < 0.05
    small = table.values["box_size"] < 0.1
    table.found = ~((dark & (rng.random(3000) < 0.5)) | (small & (rng.random(3000) < 0.67)))
    edges = bin_edges(table)
    field_only = discover_slices(table, edges, top_k=1, min_support=10)
    assert field_only[0].conditions == {"box_size": "lowest"}
    deployed = {
        "brightness": np.r_[rng.uniform(0, 0.05, 100), rng.uniform(0.05, 1, 100)],
        "haze": rng.uniform(0, 1, 200),  # deployed like the field: weighs about 1
    }
    weighted = discover_slices(table, edges, top_k=1, min_support=10, deployment=deployed)
    assert weighted[0].conditions == {"brightness": "lowest"}
    # Deployment images like the field's change nothing.
    alike = {"brightness": rng.uniform(0, 1, 200)}
    assert discover_slices(table, edges, top_k=1, min_support=10, deployment=alike)[
        0
    ].conditions == {"box_size": "lowest"}


def test_deployment_images_are_read_from_the_workspace_or_refused_in_one_sentence(
    tmp_path,
) -> None:
    import pytest

    from agent.steps.failures import deployment_attributes
    from tests.fakes import fake_deps

    (tmp_path / "ws" / "deploy").mkdir(parents=True)
    deps = fake_deps(tmp_path / "ws", loop={"deploy_images": "deploy"})
    with pytest.raises(ValueError, match=r"holds no images \("):
        deployment_attributes(deps)
    Image.new("RGB", (32, 32), (10, 10, 10)).save(tmp_path / "ws" / "deploy" / "dark.jpg")
    Image.new("RGB", (32, 32), (200, 200, 200)).save(tmp_path / "ws" / "deploy" / "bright.png")
    read = deployment_attributes(deps)
    assert sorted(read["brightness"].round()) == [10.0, 200.0]
