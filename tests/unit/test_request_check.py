"""Each image against its request: conditions read back from procedural images, and the wiring
of the score step's counts (CLIP's check is tested on a tiny model in tests/backends)."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

from evaluation.request_check import ConditionReadBack
from tools.generator.base import GenerationRequest
from tools.generator.check import CheckItem, RequestCheck
from tools.generator.procedural import ProceduralGenerator
from tools.labeler.truth import SceneTruthLabeler
from tools.vocabulary import CONDITIONS
from tools.world.camera import CameraProfile

CLASSES = ["car", "person", "sign"]


def _checked(requests: list[GenerationRequest], out: Path) -> list[RequestCheck]:
    images, failed = ProceduralGenerator().generate(requests, out, 160)
    assert not failed
    labels = SceneTruthLabeler().label(images, CLASSES)
    items = [
        CheckItem(str(i.path), r.prompt, r.conditions, d, 160)
        for i, r, d in zip(images, requests, labels, strict=True)
        if d is not None
    ]
    return ConditionReadBack().check(items)


def _request(n: int, conditions: dict[str, str], **extra: object) -> GenerationRequest:
    return GenerationRequest(
        id=f"r{n:03d}",
        slice_name="s",
        prompt="a street",
        conditions=conditions,
        seed=n,
        realism=1.0,
        camera=CameraProfile(),
        **extra,  # type: ignore[arg-type]
    )


def test_images_rendered_as_asked_mostly_read_back_as_asked(tmp_path: Path) -> None:
    combos = [
        dict(zip(CONDITIONS, c, strict=True)) for c in itertools.product(*CONDITIONS.values())
    ]
    checks = _checked([_request(n, c) for n, c in enumerate(combos)], tmp_path)
    assert len(checks) == len(combos)
    missed = Counter(k for c in checks for k in c.unmet)
    # The read-back is the field-condition estimate: lighting almost always right, the others
    # often (measured on these 72 scenes: weather 71%, distance 82%, crowding 89%).
    assert missed["lighting"] <= 2
    assert all(missed[k] <= 0.35 * len(checks) for k in CONDITIONS)
    for check in checks:
        assert check.as_asked == (not check.unmet)
        assert check.score == 1 - len(check.unmet) / len(CONDITIONS)


def test_an_edit_that_keeps_a_near_layout_is_not_far_as_asked(tmp_path: Path) -> None:
    # The lever the issue names: a re-staged near layout asked to be far silently stays near.
    near = [(40.0, 70.0, 100.0, 150.0, "person"), (100.0, 100.0, 150.0, 150.0, "car")]
    asked = {"lighting": "day", "weather": "clear", "distance": "far", "crowding": "sparse"}
    edits = [_request(n, asked, mode="edit", source_boxes=near) for n in range(6)]
    checks = _checked(edits, tmp_path)
    assert all("distance" in c.unmet and not c.as_asked for c in checks)


def test_an_edit_that_fits_its_layout_comes_out_far_and_dense_as_asked(tmp_path: Path) -> None:
    # A near, sparse layout with `layout: fit`: rescaled and crowded, read back as asked.
    near = [(40.0, 70.0, 70.0, 150.0, "person"), (80.0, 100.0, 150.0, 150.0, "car")]
    asked = {"lighting": "day", "weather": "clear", "distance": "far", "crowding": "dense"}
    edits = [_request(n, asked, mode="edit", source_boxes=near, layout="fit") for n in range(6)]
    checks = _checked(edits, tmp_path)
    assert len(checks) == 6
    assert all("distance" not in c.unmet for c in checks)
    assert sum("crowding" not in c.unmet for c in checks) >= 5


def test_nothing_asked_is_nothing_missed_and_not_checked(tmp_path: Path) -> None:
    checks = _checked([_request(0, {"lighting": "night"})], tmp_path)
    assert checks[0].unmet == [] and checks[0].as_asked  # only lighting was asked
    free = ConditionReadBack().check([CheckItem("unused.png", "", {}, None, 160)])  # type: ignore[arg-type]
    # Neither as asked nor not: a batch of such images has no share made as asked (not 100%).
    assert free == [RequestCheck(score=0.0, as_asked=False, checked=False)]
