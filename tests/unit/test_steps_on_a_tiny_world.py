"""The loop's real steps on a tiny world: real FiftyOne, generator and labeller, a fake detector.

Training is the one part replaced (`FakeDetector`: no minutes of ultralytics), so every step's
own work runs: predictions and evaluation, discovery, analysis, planning, generation,
labelling, scoring, the decision, the export for training, the gate and what the App shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.bootstrap import build_deps
from agent.control.runner import LoopDriver
from agent.control.workspaces import init_workspace
from agent.ports import Deps
from agent.results import Discovery
from agent.settings import Settings
from tests.conftest import TINY_WORLD
from tests.fakes import FakeDetector


def _workspace(tmp_path: Path, gain: float, **loop: object) -> tuple[Deps, FakeDetector]:
    workspace, tiny_yaml_path = tmp_path / "ws", tmp_path / "world.yaml"
    tiny_yaml_path.write_text(TINY_WORLD)
    # A tiny val has few objects per slice: let slices of three count.
    init_workspace(workspace, tiny_yaml_path, settings_values={"loop": {"min_support": 3, **loop}})
    deps = build_deps(Settings.load(workspace))
    field = deps.datasets.field()
    truth = dict(
        zip(
            [str(s.path) for s in deps.datasets.samples(field)],
            deps.datasets.labels(field),
            strict=True,
        )
    )
    detector = FakeDetector(truth, deps.settings.classes, gain)
    deps.detector = detector
    weights = detector.save(workspace / "models" / "v1" / "weights.pt", 0.5)
    deps.registry.add_model("v1", weights, None, "incumbent", {})
    return deps, detector


def _run_one_cycle(deps: Deps) -> None:
    outcome = LoopDriver(deps).start(cycles=1, budget=12, auto_approve=True)
    if outcome.waiting is not None:  # scores over threshold on so small a batch: a person says yes
        outcome = LoopDriver(deps).decide(outcome.waiting.batch_id, True, "tester")
    assert outcome is not None and outcome.finished, outcome


@pytest.fixture(scope="module")
def improved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deps, FakeDetector]]:
    """One cycle whose candidate finds more (skill 0.5 -> 0.9), read by several tests."""
    deps, detector = _workspace(tmp_path_factory.mktemp("improved"), gain=0.4)
    _run_one_cycle(deps)
    yield deps, detector


def test_a_cycle_trains_on_field_and_approved_images_and_promotes_a_better_model(
    improved: tuple[Deps, FakeDetector],
) -> None:
    deps, detector = improved
    (batch,) = deps.registry.batches()
    assert batch.status == "approved" and 0 < batch.image_count <= 12
    assert len(deps.datasets.batch(batch.id)) >= batch.image_count  # generated, then labelled
    # One training, from the incumbent's weights, on field train plus the approved images.
    (trained,) = detector.trained
    assert trained["init"] == Path(deps.registry.model("v1").path)
    training = deps.registry.step_result(f"{LoopDriver(deps).current_id()}/c1/r0/retrain_detector")
    assert training is not None and training["field"] == 24
    # The approved images, as many as the synthetic share allows beside 24 field images.
    cap = int(training["share"] / (1 - training["share"]) * training["field"])
    assert training["synthetic"] == min(batch.image_count, cap) > 0
    assert trained["images"] == training["field"] + training["synthetic"]
    # Skill 0.5 -> 0.9 finds more on every slice: promoted, and the App says why.
    assert deps.registry.incumbent().name == "v2"
    status, note = deps.datasets.evaluation_review("v2_val")
    assert status == "reviewed" and note is not None and note.startswith("Gate: promoted")


def test_the_newest_batch_is_repeated_in_the_fine_tunes_data(tmp_path: Path) -> None:
    # A share cap far above one batch leaves room for the second copy.
    deps, detector = _workspace(
        tmp_path, gain=0.4, newest_batch_repeats=2, synthetic_share_start=0.9
    )
    _run_one_cycle(deps)
    (batch,) = deps.registry.batches()
    training = deps.registry.step_result(f"{LoopDriver(deps).current_id()}/c1/r0/retrain_detector")
    assert training is not None and training["synthetic"] == 2 * batch.image_count > 0
    assert detector.trained[0]["images"] == training["field"] + 2 * batch.image_count
    # Each approved image is exported twice, under two names, for ultralytics to read twice.
    exported = sorted((deps.workspace.cycle_dir(1) / "data" / "images" / "train").iterdir())
    approved = deps.datasets.where(deps.datasets.batch(batch.id), "status", "approved")
    for path in [s.path for s in deps.datasets.samples(approved)]:
        assert sum(p.name.endswith(f"_{Path(path).name}") for p in exported) == 2


def test_a_worse_candidate_is_not_promoted(tmp_path: Path) -> None:
    deps, _ = _workspace(tmp_path, gain=-0.3)
    _run_one_cycle(deps)
    assert deps.registry.incumbent().name == "v1"
    assert deps.registry.model("v2").status == "rejected"
    status, note = deps.datasets.evaluation_review("v2_val")
    assert status == "reviewed" and note is not None and note.startswith("Gate: not promoted")


def test_the_cycles_slices_are_a_scenario_of_the_model_evaluation_panel(
    improved: tuple[Deps, FakeDetector],
) -> None:
    deps, _ = improved
    stored = deps.registry.step_result(f"{LoopDriver(deps).current_id()}/c1/r0/discover_failures")
    found = Discovery.model_validate(stored).slices
    assert found, "discovery found no slice on the tiny world"
    (scenario,) = deps.datasets.evaluation_scenarios()
    assert scenario["name"] == "failforge cycle 1 slices"
    assert scenario["type"] == "label_attribute"
    assert scenario["field"] == "ground_truth.detections.slices_c1"
    assert scenario["subsets"] == [f.name for f in found]
    # FiftyOne's own subset (what the panel computes) holds exactly the objects discovery
    # counted, and their recall under v1's evaluation is the recall discovery measured.
    for failure in found:
        recall, objects = deps.datasets.subset_recall("v1_val", "slices_c1", failure.name)
        assert objects == failure.support
        assert recall == pytest.approx(failure.recall)
