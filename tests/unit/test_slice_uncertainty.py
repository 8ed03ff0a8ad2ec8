"""Discovery that sees what val barely holds: a rare failure named by its optimistic deficit, and
conditions common in deployment but rare on val flagged as blind spots."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.blind_spots import blind_spots
from evaluation.slices import ObjectTable, bin_edges, discover_slices, optimistic_miss_rate

ATTRIBUTES = ("brightness", "contrast", "haze", "streaks", "specks", "sharpness", "box_size")


def _table(seed: int = 0, n: int = 1200) -> tuple[ObjectTable, np.ndarray, np.ndarray]:
    """Signs (a third of the objects) found 60% of the time; dark-and-hazy images (the darkest
    and haziest tenths together: about one object in a hundred) 20%; everything else 90%."""
    rng = np.random.default_rng(seed)
    values = {name: rng.uniform(0, 1, n) for name in ATTRIBUTES}
    classes = rng.choice(["car", "person", "sign"], n)
    # The darkest tenth and the haziest tenth: discovery's `lowest` and `highest` bins.
    rare = (values["brightness"] < np.quantile(values["brightness"], 0.1)) & (
        values["haze"] >= np.quantile(values["haze"], 0.9)
    )
    common = classes == "sign"
    chance = np.where(rare, 0.2, np.where(common, 0.6, 0.9))
    found = rng.random(n) < chance
    # Exactly the stated recalls, so the test does not hang on one draw's luck.
    for mask, recall in ((rare, 0.2), (common & ~rare, 0.6)):
        rows = np.where(mask)[0]
        found[rows] = np.arange(len(rows)) < round(recall * len(rows))
    return ObjectTable([f"s{i}" for i in range(n)], classes, values, found), rare, common


def test_a_rare_failure_is_named_beside_a_common_one() -> None:
    table, rare, _ = _table()
    assert 8 <= rare.sum() < 20  # fewer objects than the smallest slice discovery ranks by impact
    edges = bin_edges(table)
    named = discover_slices(table, edges, top_k=3, min_support=20, explore=1)
    by_name = {s.name: s for s in named}
    assert by_name["class=sign"].named_by == "impact"
    assert by_name["class=sign"].recall == pytest.approx(0.6, abs=0.01)
    rare_slice = by_name["brightness=lowest & haze=highest"]
    assert rare_slice.named_by == "uncertainty" and rare_slice.support == rare.sum()
    assert rare_slice.recall == pytest.approx(0.2, abs=0.05)  # 2 of its 12 objects found
    # Its optimistic deficit is larger than its observed one: few objects, wide posterior.
    assert rare_slice.optimistic_deficit is not None
    assert rare_slice.optimistic_deficit > rare_slice.deficit
    # Without exploration slots the rare failure is never named (what the issue saw).
    ranked = discover_slices(table, edges, top_k=3, min_support=20)
    assert "brightness=lowest & haze=highest" not in {s.name for s in ranked}
    assert [s.name for s in ranked] == [s.name for s in named if s.named_by == "impact"]


def test_the_optimistic_miss_rate_is_wide_for_few_objects_and_tight_for_many() -> None:
    few, many = optimistic_miss_rate(8, 10), optimistic_miss_rate(320, 400)
    assert few == pytest.approx(0.895, abs=0.001)  # Beta(9, 3)'s 90% quantile
    assert 0.8 < many < 0.83  # close to the observed 0.8
    assert optimistic_miss_rate(0, 0) == pytest.approx(0.9)  # nothing seen: the prior's quantile


def test_conditions_common_in_deployment_and_rare_on_val_are_blind_spots() -> None:
    table, _, _ = _table(seed=1)
    edges = bin_edges(table)
    rng = np.random.default_rng(2)
    # 40% of deployment images darker than anything but val's darkest tenth.
    dark = np.r_[rng.uniform(0, edges["brightness"][0], 80), rng.uniform(0.2, 1, 120)]
    deployment = {"brightness": dark, "haze": rng.uniform(0, 1, 200)}
    found = blind_spots(table, edges, deployment)
    assert [b.name for b in found] == ["brightness=lowest"]
    assert found[0].deployment_share == pytest.approx(0.4)
    assert found[0].val_share == pytest.approx(0.1, abs=0.01)
    # Deployment like the field: nothing is blind.
    alike = {name: rng.uniform(0, 1, 200) for name in ("brightness", "haze")}
    assert blind_spots(table, edges, alike) == []


def test_a_joint_condition_val_barely_holds_is_a_blind_spot_where_its_parts_are_not() -> None:
    table, _, _ = _table(seed=3)
    edges = bin_edges(table)
    rng = np.random.default_rng(4)
    # A tenth of deployment images are dark and hazy together (1% of val); dark alone and
    # hazy alone are as common as on val.
    both = 20
    brightness = np.r_[rng.uniform(0, 0.05, both), rng.uniform(0.1, 1, 180)]
    haze = np.r_[rng.uniform(0.95, 1, both), rng.uniform(0, 0.9, 180)]
    found = blind_spots(table, edges, {"brightness": brightness, "haze": haze})
    assert [b.name for b in found] == ["brightness=lowest & haze=highest"]
    assert found[0].val_objects < 20
