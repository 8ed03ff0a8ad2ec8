"""Planning follows the counterfactual verdicts: a hypothesis not supported keeps the floor alone
and its images leave its blame free; without verdicts the plan is the one made before the check."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from agent.steps.attribute_plans import aimed_requests
from agent.steps.prompts import plan_requests
from evaluation.slices import FailureSlice, ObjectTable, bin_edges
from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions
from tools.generator.base import EditSource, GenerationRequest

CLASSES = ["car", "person", "sign"]
SOURCES = [EditSource("s1", "s1.jpg", [(10.0, 10.0, 30.0, 60.0, "person")])]
# What these scenarios planned before verdicts existed (house-driver 0f46788): the digests of
# the requests' fields, so "no verdicts" is held to the old plan, not to itself.
WORLD_DIGEST = "f8bc3e9917a218f1"
PHOTOGRAPH_DIGEST = "a65f1d70b92aa8da"


def digest(requests: list[GenerationRequest]) -> str:
    fields = ("id", "slice_name", "prompt", "conditions", "class_focus", "seed", "mode")
    rows = [
        {**{k: getattr(r, k) for k in fields}, "source": r.source_sample_id, "targets": r.targets}
        for r in requests
    ]
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]


def world(verdicts: dict[str, str] | None = None) -> list[GenerationRequest]:
    """Far and night slices, a class-only one, with edits and borrowed blame: every option a
    verdict could disturb."""
    pairs = [
        ("far", 0.3, SceneConditions(distance="far"), []),
        ("night", 0.2, SceneConditions(lighting="night"), []),
        ("class=sign", 0.1, SceneConditions(), ["sign"]),
    ]
    hypotheses = [
        Hypothesis(slice_name=n, what_fails=n, why="-", conditions=c, classes=k, confidence=0.8)
        for n, _, c, k in pairs
    ]
    slices = [
        FailureSlice(name=n, conditions={}, support=50, recall=0.3, deficit=0.3, score=s)
        for n, s, _, _ in pairs
    ]
    return plan_requests(
        FailureAnalysis(analyst="test", hypotheses=hypotheses),
        slices,
        100,
        CLASSES,
        7,
        "b",
        edit_sources=SOURCES,
        combine=0.5,
        variation=0.2,
        verdicts=verdicts,
    )


def photographs(verdicts: dict[str, str] | None = None) -> list[GenerationRequest]:
    """A user's cells: a dark slice and a small one, explained by brightness and by box size."""
    rng = np.random.default_rng(0)
    n = 200
    table = ObjectTable(
        sample_ids=[f"s{k // 4}" for k in range(n)],
        classes=np.array(["rbc", "wbc"])[rng.integers(0, 2, n)],
        values={"brightness": rng.uniform(20, 200, n), "box_size": rng.uniform(5, 80, n)},
        found=rng.random(n) > 0.4,
    )
    dark = FailureSlice(
        name="brightness=lowest",
        conditions={"brightness": "lowest"},
        support=40,
        recall=0.3,
        deficit=0.3,
        score=0.3,
    )
    small = FailureSlice(
        name="box_size=lowest",
        conditions={"box_size": "lowest"},
        support=40,
        recall=0.4,
        deficit=0.2,
        score=0.2,
    )
    hypotheses = [
        Hypothesis(
            slice_name=s.name, what_fails="-", why="-", attributes=s.conditions, confidence=0.8
        )
        for s in (dark, small)
    ]
    return aimed_requests(
        FailureAnalysis(analyst="test", hypotheses=hypotheses),
        [dark, small],
        table,
        bin_edges(table),
        ["rbc", "wbc"],
        SOURCES,
        100,
        3,
        "b",
        0.15,
        verdicts,
    )


def test_without_verdicts_the_world_plan_is_the_plan_before_the_check() -> None:
    assert digest(world()) == WORLD_DIGEST
    # Verdicts that support or leave undecided change nothing either.
    kept = {"far": "supported", "night": "undecided", "class=sign": "undecided"}
    assert world(kept) == world()


def test_without_verdicts_the_photograph_plan_is_the_plan_before_the_check() -> None:
    assert digest(photographs()) == PHOTOGRAPH_DIGEST
    assert photographs({"brightness=lowest": "supported"}) == photographs()


def test_an_unsupported_world_hypothesis_keeps_the_floor_and_frees_its_blame() -> None:
    before = [r for r in world() if r.slice_name == "far"]
    after = world({"far": "not supported"})
    far = [r for r in after if r.slice_name == "far"]
    assert len(before) == 43 and len(far) == 15  # 15% floor of 100 images, nothing beyond
    assert len(after) == 100  # its share goes to the other hypotheses
    # Before, far scenes up to the variation's widening; after, distances drawn like any free one.
    assert sum(r.conditions["distance"] == "far" for r in before) >= 40
    assert {r.conditions["distance"] for r in far} == {"near", "mid", "far"}
    # Nobody borrows a refuted blame: night images take no more far than free draws give.
    night = [r for r in after if r.slice_name == "night"]
    assert sum(r.conditions["distance"] == "far" for r in night) < len(night) / 2


def test_an_unsupported_photograph_hypothesis_keeps_the_floor_and_aims_at_nothing() -> None:
    before = [r for r in photographs() if r.slice_name == "brightness=lowest"]
    dark = [
        r
        for r in photographs({"brightness=lowest": "not supported"})
        if r.slice_name == "brightness=lowest"
    ]
    assert len(before) > 15 and len(dark) == 15
    assert all("brightness" in r.targets for r in before)
    assert all(set(r.targets) == {"objects"} for r in dark)
