"""The counterfactual step over a cycle's hypotheses: it reads the incumbent's val misses, checks
each blamed factor, writes its result once per (loop, cycle) and, run again (a resumed node),
reads it back without editing or predicting anything a second time. Each checked factor leaves
one before/after strip in the workspace, named on its verdict line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from PIL import Image

from agent.state import LoopState
from agent.steps.counterfactual_check import STRIP_NAME
from agent.steps.counterfactuals import check_hypotheses, result_path
from evaluation.slices import FailureSlice, assign_bins, bin_edges, build_object_table
from storage.refs import SampleRef
from tests.fakes import fake_deps
from tests.unit.dark_world import DarkMissingDetector, Sample, make_dark_world
from tools.analyst.base import FailureAnalysis, Hypothesis
from tools.before_after import strip_size
from tools.convert import make_detections


class ValDatasets:
    """The read side of WorkspaceDatasets over the dark world's val images: truth, and the
    incumbent's predictions in its `pred_<model>` field."""

    def __init__(self, samples: list[Sample], predictions: list[sv.Detections]) -> None:
        self.samples_, self.predictions = samples, predictions

    def split(self, name: str) -> str:
        return name

    def samples(self, view: str) -> list[SampleRef]:
        return [SampleRef(s.sample_id, s.path, 128, 128) for s in self.samples_]

    def labels(self, view: str, label_field: str = "ground_truth") -> list[sv.Detections]:
        if label_field == "pred_v1":
            return self.predictions
        return [make_detections(s.boxes, s.labels) for s in self.samples_]


def loop_state(samples: list[Sample], predictions: list[sv.Detections]) -> tuple[LoopState, int]:
    """Cycle 1 after analysis: the dark slice found, and a hypothesis blaming darkness; with
    the number of images that hold the slice's objects."""
    table = build_object_table(
        [s.sample_id for s in samples],
        [str(s.path) for s in samples],
        [128] * len(samples),
        [make_detections(s.boxes, s.labels) for s in samples],
        predictions,
        ["car"],
        0.25,
    )
    edges = bin_edges(table)
    in_slice = assign_bins(table, edges)["brightness"] == "low"
    failure = FailureSlice(
        name="brightness=low",
        conditions={"brightness": "low"},
        support=int(in_slice.sum()),
        recall=float(table.found[in_slice].mean()),
        deficit=0.5,
        score=0.1,
    )
    hypothesis = Hypothesis(
        slice_name=failure.name,
        what_fails="objects in dark images are missed",
        why="dark images",
        attributes={"brightness": "low", "overlap": "high"},
        confidence=0.7,
    )
    state = LoopState(
        loop_id="loop-a",
        max_cycles=2,
        budget=10,
        incumbent="v1",
        slices=[failure],
        bin_edges=edges,
        analysis=FailureAnalysis(analyst="fake", hypotheses=[hypothesis]),
    )
    return state, len({table.sample_ids[k] for k in np.flatnonzero(in_slice)})


def test_the_step_checks_each_factor_once_per_loop_and_cycle(tmp_path: Path) -> None:
    samples = make_dark_world(tmp_path / "val")
    detector = DarkMissingDetector()
    predictions = detector.predict(Path("v1.pt"), [s.path for s in samples])
    deps: Any = fake_deps(tmp_path / "ws")
    deps.datasets, deps.detector = ValDatasets(samples, predictions), detector
    state, images = loop_state(samples, predictions)
    detector.calls = 0

    result = check_hypotheses(deps, state)

    assert (result.loop_id, result.cycle, result.incumbent) == ("loop-a", 1, "v1")
    [check] = result.checks
    darkness, overlap = check.factors
    assert darkness.verdict == "supported"
    assert darkness.edit is not None and darkness.edit.recovered.rate == 1.0
    assert darkness.placebo is not None and darkness.placebo.recovered.count == 0
    assert overlap.verdict == "undecided"
    assert "no edit removes overlap" in overlap.reason
    assert result.verdicts() == {"brightness=low": "supported"}
    assert detector.calls == 2  # the edited images, then the placebos: one batch each
    edited = sorted((result_path(deps, state).parent / "00" / "brightness").glob("*_edit.png"))
    assert len(edited) == images  # a pixel edit per image, written for people to look at

    again = check_hypotheses(deps, state)  # a resumed node runs its step from the top

    assert detector.calls == 2
    assert again == result
    other = check_hypotheses(deps, state.model_copy(update={"cycle": 2}))
    assert detector.calls == 4
    assert other.cycle == 2
    assert other.checks[0].factors[0].verdict == "supported"


def test_each_checked_factor_leaves_one_strip_named_on_its_line(tmp_path: Path) -> None:
    samples = make_dark_world(tmp_path / "val")
    detector = DarkMissingDetector()
    predictions = detector.predict(Path("v1.pt"), [s.path for s in samples])
    deps: Any = fake_deps(tmp_path / "ws")
    deps.datasets, deps.detector = ValDatasets(samples, predictions), detector
    state, _ = loop_state(samples, predictions)

    result = check_hypotheses(deps, state)

    darkness, overlap = result.checks[0].factors
    # Relative to the workspace folder, beside the factor's edited images.
    assert darkness.strip == f"cycles/1/counterfactual/loop-a/00/brightness/{STRIP_NAME}"
    assert overlap.strip is None  # no edit removes overlap: nothing to show
    assert [line.strip for line in result.lines()] == [darkness.strip, None]
    written = deps.workspace.root / darkness.strip
    assert Image.open(written).size == strip_size(4)
    first = written.read_bytes()

    # Killed before its result was stored, the step runs again from its top: the same strip,
    # replaced in place, and no second file.
    result_path(deps, state).unlink()
    again = check_hypotheses(deps, state)

    assert again.checks[0].factors[0].strip == darkness.strip
    assert sorted(deps.workspace.root.rglob("strip*")) == [written]
    assert written.read_bytes() == first
