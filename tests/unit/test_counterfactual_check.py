"""The counterfactual check on a constructed case where darkness is the cause: a detector that misses
exactly the dark objects. Brightening the misses finds them, a sharpness placebo of the same
strength does not, enlarging them does not; the lit objects beside them are not lost. A strip
shows the reviewer a few misses before and after each edit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.steps.counterfactual_check import STRIP_NAME, Factor, check_factor
from agent.steps.counterfactuals import blamed_factors, factor_to_remove, slice_objects
from evaluation.counterfactual import FactorCheck
from evaluation.slices import ObjectTable, assign_bins, bin_edges, build_object_table
from tests.unit.dark_world import DarkMissingDetector, Sample, make_dark_world
from tools.analyst.base import Hypothesis
from tools.before_after import FOUND, FRAME, GAP, MISSED, NEUTRAL, TILE, strip_size
from tools.convert import make_detections

WEIGHTS = Path("incumbent.pt")  # the fake reads pixels, never weights


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Sample], ObjectTable]:
    samples = make_dark_world(tmp_path_factory.mktemp("dark") / "val")
    detector = DarkMissingDetector()
    predictions = detector.predict(WEIGHTS, [s.path for s in samples])
    table = build_object_table(
        [s.sample_id for s in samples],
        [str(s.path) for s in samples],
        [128] * len(samples),
        [make_detections(s.boxes, s.labels) for s in samples],
        predictions,
        ["thing"],
        0.25,
    )
    return samples, table


def check(world: tuple[list[Sample], ObjectTable], attribute: str, out: Path) -> FactorCheck:
    samples, table = world
    edges = bin_edges(table)
    bins = assign_bins(table, edges)
    hypothesis = Hypothesis(
        slice_name="brightness=low",
        what_fails="objects in dark images are missed",
        why="dark images; small objects",
        attributes={"brightness": "low", "box_size": "low"},
        confidence=0.8,
    )
    factors = {a: (a, d, b) for a, d, b in blamed_factors(hypothesis)}
    factor = factor_to_remove(
        hypothesis.slice_name, *factors[attribute], edges, [a for a in factors]
    )
    assert isinstance(factor, Factor)
    # The slice: the dark images' objects (discovery's two lowest brightness bins).
    mask = np.isin(bins["brightness"], ["lowest", "low"])
    misses, controls = slice_objects(table, mask, {s.sample_id: s.path for s in samples})
    # Every dark object is missed; found are the dark images' 10 lit objects and the 3 of the
    # dimmest bright image, which the low bin's upper edge takes in.
    assert (len(misses), len(controls)) == (30, 13)
    return check_factor(
        DarkMissingDetector(),
        WEIGHTS,
        hypothesis.slice_name,
        factor,
        misses + controls,
        {s.sample_id: s.boxes for s in samples},
        {s.sample_id: s.labels for s in samples},
        out,
        table.values,
        0.25,
    )


def test_darkness_is_supported_and_the_placebo_finds_nothing(
    world: tuple[list[Sample], ObjectTable], tmp_path: Path
) -> None:
    result = check(world, "brightness", tmp_path)
    assert result.edit is not None and result.placebo is not None
    assert result.placebo.attribute == "sharpness"  # not blamed, and moves no tone
    assert result.verdict == "supported"
    assert result.edit.recovered.count == 30
    assert result.placebo.recovered.count == 0
    assert result.edit.lost is not None and result.edit.lost.count == 0  # found objects kept
    assert result.difference is not None and result.difference.low > 0.8
    # Same strength: both moved their attribute about as far through the val objects.
    assert result.placebo.strength == pytest.approx(result.edit.strength, abs=0.1)


def test_size_is_not_supported_when_darkness_is_the_cause(
    world: tuple[list[Sample], ObjectTable], tmp_path: Path
) -> None:
    result = check(world, "box_size", tmp_path)
    assert result.edit is not None and result.placebo is not None
    assert result.edit.landed == 1.0  # the misses were enlarged into the target sizes
    assert result.edit.recovered.count == 0
    assert result.placebo.recovered.count == 0
    assert result.verdict == "not supported"
    assert result.difference is not None and result.difference.high < 0.2
    # Enlarged, the misses stay missed: every edited tile of the strip is framed red.
    assert result.strip == str(tmp_path / STRIP_NAME)
    assert frames(Image.open(tmp_path / STRIP_NAME)) == ([NEUTRAL] * 4, [MISSED] * 4)


def frames(strip: Image.Image) -> tuple[list[object], list[object]]:
    """The frame colour of each tile: the originals' row, the edits' row."""
    columns = range(0, strip.width, TILE + GAP)
    top = [strip.getpixel((x + 1, 1)) for x in columns]
    bottom = [strip.getpixel((x + 1, TILE + GAP + 1)) for x in columns]
    return top, bottom


def inner_luma(strip: Image.Image, row: int) -> float:
    """Mean luma inside the frames of one row (0: originals, 1: edits)."""
    grey = np.asarray(strip.convert("L"), np.float64)
    top = row * (TILE + GAP) + FRAME
    return float(grey[top : top + TILE - 2 * FRAME].mean())


def test_the_strip_shows_four_misses_before_and_after_brightening(
    world: tuple[list[Sample], ObjectTable], tmp_path: Path
) -> None:
    first = check(world, "brightness", tmp_path / "first")
    path = tmp_path / "first" / STRIP_NAME
    assert first.strip == str(path)
    strip = Image.open(path)
    assert strip.size == strip_size(4) == (4 * TILE + 3 * GAP, 2 * TILE + GAP)
    # Every miss is found once brightened: the four edited tiles are framed green.
    assert frames(strip) == ([NEUTRAL] * 4, [FOUND] * 4)
    assert inner_luma(strip, 1) > inner_luma(strip, 0) + 40  # the edit brightened them
    # Same inputs, same strip: a rerun shows the reviewer the same misses, pixel for pixel.
    again = check(world, "brightness", tmp_path / "again")
    assert (tmp_path / "again" / STRIP_NAME).read_bytes() == path.read_bytes()
    assert again.strip == str(tmp_path / "again" / STRIP_NAME)


def test_blamed_scene_conditions_are_checked_as_the_attribute_they_move() -> None:
    hypothesis = Hypothesis(
        slice_name="s",
        what_fails="x",
        why="y",
        conditions={"lighting": "night", "crowding": "dense"},  # type: ignore[arg-type]
        confidence=0.5,
    )
    assert blamed_factors(hypothesis) == [
        ("brightness", "low", "lighting=night"),
        ("overlap", "high", "crowding=dense"),
    ]
    edges = {"brightness": [1.0, 2.0, 3.0, 4.0], "overlap": [0.0, 0.0, 0.1, 0.2]}
    unchecked = factor_to_remove("s", "overlap", "high", "crowding=dense", edges, ["brightness"])
    assert isinstance(unchecked, FactorCheck)
    assert unchecked.verdict == "undecided"
    assert "no edit removes overlap" in unchecked.reason
