"""Failures named, never dressed: a labeller's error, an unchecked image, an offline fallback."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from agent.bootstrap import build_deps
from agent.control.export import export_analyses
from agent.control.queries import review_summary
from agent.control.runner import LoopDriver
from agent.control.workspaces import init_workspace
from agent.entry.review import review_markdown
from agent.settings import Settings
from agent.steps.batches import check_requests
from evaluation.request_check import ConditionReadBack
from storage.refs import SampleRef
from tests.conftest import TINY_WORLD
from tests.fakes import FakeDetector, fake_deps
from tools.analyst.base import SliceEvidence
from tools.analyst.prompting import slice_text
from tools.convert import make_detections
from tools.generator.base import GenerationRequest


def test_a_labeller_without_its_weights_says_so_in_the_log_the_batch_and_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "no-dino-here"
    world = tmp_path / "world.yaml"
    world.write_text(TINY_WORLD)
    values = {
        "loop": {"min_support": 3},
        "backends": {"labeler": "grounded-sam"},
        "labeler": {"detector_model": str(missing), "sam_model": None},
    }
    init_workspace(tmp_path / "ws", world, settings_values=values)
    deps = build_deps(Settings.load(tmp_path / "ws"))
    field = deps.datasets.field()
    truth = dict(
        zip(
            [str(s.path) for s in deps.datasets.samples(field)],
            deps.datasets.labels(field),
            strict=True,
        )
    )
    detector = FakeDetector(truth, deps.settings.classes, 0.4)
    deps.detector = detector
    deps.registry.add_model(
        "v1", detector.save(tmp_path / "ws" / "v1.pt", 0.5), None, "incumbent", {}
    )

    outcome = LoopDriver(deps).start(cycles=1, budget=4, auto_approve=False)
    assert outcome.waiting is not None and outcome.state is not None
    failed = [e for e in deps.registry.events() if e.kind == "image_failed"]
    assert len(failed) == 4
    cause = f"cannot load labeler.detector_model '{missing}'"
    for event in failed:
        assert event.payload["reason"].startswith(f"labeller grounded-sam: OSError: {cause}")
        assert "returned nothing" not in event.payload["reason"]
    (reason,) = outcome.state.batch.label_errors  # type: ignore[union-attr]
    assert outcome.state.batch.label_errors[reason] == 4 and cause in reason  # type: ignore[union-attr]
    shown = review_markdown(review_summary(LoopDriver(deps)))
    assert f"4 images could not be labelled: OSError: {cause}" in shown


def test_an_image_whose_request_is_unknown_is_not_checked(tmp_path: Path) -> None:
    asked = GenerationRequest(
        id="r0",
        slice_name="weather=fog",
        prompt="a car in fog",
        conditions={"weather": "fog"},
        seed=0,
    )
    paths = [tmp_path / "asked.png", tmp_path / "stray.png"]
    for path in paths:
        Image.new("RGB", (64, 64), (128, 128, 128)).save(path)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"images": [{"path": str(paths[0]), "request_id": "r0"}]}))
    state = SimpleNamespace(batch=SimpleNamespace(manifest=str(manifest)), requests=[asked])
    deps = SimpleNamespace(request_checker=ConditionReadBack())
    boxes = make_detections(np.array([[10.0, 10.0, 30.0, 30.0]]), np.array([0]))
    samples = [SampleRef("a", paths[0], 64, 64), SampleRef("b", paths[1], 64, 64)]
    checks = check_requests(deps, state, samples, [boxes, boxes])  # type: ignore[arg-type]
    assert checks[0].checked
    assert (checks[1].checked, checks[1].as_asked) == (False, False)  # not "as asked"


def test_the_export_holds_the_prompts_the_analyst_saw_and_no_fallbacks(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path)
    image = tmp_path / "scene.png"
    Image.new("RGB", (8, 8)).save(image)
    seen = SliceEvidence(
        slice_name="distance=far",
        conditions={"distance": "far"},
        support=37,
        recall=0.41,
        deficit=0.22,
        stats={"box_area": 0.01},
        overall_stats={"box_area": 0.05},
        example_paths=[str(image)],
    )
    answer = {
        "what_fails": "far cars",
        "why": "too small",
        "conditions": {"distance": "far"},
        "classes": ["car"],
        "confidence": 0.7,
        "suggested_prompts": [],
    }
    hypotheses = [
        {**answer, "slice_name": "distance=far", "fallback": None},
        {**answer, "slice_name": "weather=fog", "fallback": "model answered prose"},
        {**answer, "slice_name": "lighting=night", "fallback": None},  # its prompt was not kept
    ]
    deps.registry.log("batch_decided", "loop1", 1, "request_approval", approved=True)
    deps.registry.log(
        "analysis",
        "loop1",
        1,
        "analyze_failures",
        analyst="qwen",
        hypotheses=hypotheses,
        evidence=[seen.model_dump(mode="json")],
    )
    out = tmp_path / "analyses.jsonl"
    result = export_analyses(deps, out)
    assert (result.written, result.fallbacks, result.unrecorded) == (1, 1, 1)
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    prompt = record["messages"][1]["content"]
    assert prompt == "<image>" + slice_text(seen, list(deps.settings.classes), None)
    assert "37 objects, recall 0.41" in prompt and record["images"] == [str(image)]
    assert json.loads(record["messages"][2]["content"]) == answer
    assert "left out: 1 offline fallbacks, 1 without the prompt" in result.sentence(out)
