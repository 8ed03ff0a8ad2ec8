"""A recording stand-in for the loop's work (`Deps.work`): real LangGraph and SQLite, no models."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
import yaml
from PIL import Image

from agent.bootstrap import build_planner
from agent.ports import Deps
from agent.results import Discovery, Generation, Labelling, Scoring, Training
from agent.settings import Settings
from agent.state import Decision, LoopState
from agent.steps import batch_id_for
from agent.steps.counterfactual_check import STRIP_NAME
from agent.steps.counterfactuals import result_path
from evaluation.counterfactual import CounterfactualResult, EditArm, HypothesisCheck, decide, wilson
from evaluation.gate import GateResult
from evaluation.quality import QualityScores
from evaluation.request_check import ConditionReadBack
from evaluation.slices import FailureSlice, ObjectTable
from storage.refs import SampleRef
from storage.registry import Registry
from storage.workspace import Workspace
from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions
from tools.before_after import BeforeAfter, write_strip
from tools.convert import make_detections
from tools.detector.base import TrainResult
from tools.generator.base import GenerationRequest
from tools.world.field import FieldImage


class FakeWork:
    """Behaves like `StepWork`: the same results' shapes, side effects counted in `calls`.

    `before` runs a hook at the start of a step (a delay, or holding a run inside its loop);
    `kill_in` SIGKILLs the process inside retraining or the gate, after their writes.
    """

    def __init__(
        self,
        scores: list[dict[str, float]] | None = None,
        promote: list[bool] | None = None,
        kill_in: str | None = None,
        kept: int = 4,
        before: dict[str, Callable[[], None]] | None = None,
    ) -> None:
        self.kept = kept
        self.calls: Counter[str] = Counter()
        self.scores = scores or [
            {"unrealistic": 0.5, "unrepresentative": 0.5, "unvaried": 0.0, "unoriginal": 0.0}
        ]
        self.promote = promote or [True]
        self.kill_in = kill_in
        self.before = before or {}
        self.deps: Deps | None = None

    def bind(self, deps: Deps) -> FakeWork:
        """This fake as `deps`' work (`Deps.bind_work`), as the real steps are bound."""
        self.deps = deps
        return self

    @property
    def _deps(self) -> Deps:
        assert self.deps is not None, "bind the fake to its Deps first"
        return self.deps

    def _start(self, step: str) -> None:
        if step in self.before:
            self.before[step]()

    def _maybe_die(self, step: str) -> None:
        if self.kill_in == step:
            os.kill(os.getpid(), signal.SIGKILL)

    def ensure_val_predictions(self, model: str) -> None:
        self._start("ensure_val_predictions")
        self.calls["evaluate"] += 1

    def discover(self, state: LoopState) -> Discovery:
        self._start("discover")
        self.calls["discover"] += 1
        failure = FailureSlice(
            name="brightness=low",
            conditions={"brightness": "low"},
            support=40,
            recall=0.3,
            deficit=0.3,
            score=0.1,
            stats={"brightness": 30.0},
            example_ids=["a"],
        )
        return Discovery(slices=[failure], edges={"brightness": [40.0, 90.0]})

    def analyze(self, state: LoopState) -> FailureAnalysis:
        self._start("analyze")
        self.calls["analyze"] += 1
        return FailureAnalysis(
            analyst="fake",
            hypotheses=[
                Hypothesis(
                    slice_name="brightness=low",
                    what_fails="dark",
                    why="night",
                    conditions=SceneConditions(lighting="night"),
                    confidence=0.8,
                )
            ],
        )

    def check_hypotheses(self, state: LoopState) -> CounterfactualResult:
        self._start("check_hypotheses")
        self.calls["check_hypotheses"] += 1
        # 12 of 20 misses found after brightening them, 1 after the placebo: supported.
        edit_found = np.arange(20) < 12
        placebo_found = np.arange(20) == 19
        edit = EditArm(
            attribute="brightness", how="brightened", strength=0.4, recovered=wilson(12, 20)
        )
        placebo = EditArm(
            attribute="sharpness", how="placebo", strength=0.4, recovered=wilson(1, 20)
        )
        factor = decide(
            "brightness=low",
            "brightness",
            "lighting=night",
            edit,
            placebo,
            edit_found,
            placebo_found,
        )
        factor.strip = self._strip(state)
        return CounterfactualResult(
            loop_id=state.loop_id,
            cycle=state.cycle,
            incumbent=state.incumbent,
            checks=[HypothesisCheck(slice_name="brightness=low", factors=[factor])],
            seconds=0.5,
        )

    def _strip(self, state: LoopState) -> str:
        """Where the real step puts a checked factor's strip: two dark misses, brightened, the
        first found after the edit."""
        folder = result_path(self._deps, state).parent / "00" / "brightness"
        image = np.full((64, 64, 3), 20, np.uint8)
        box = np.array([24.0, 24.0, 40.0, 40.0])
        pairs = [BeforeAfter(image, box, image + 120, box, found) for found in (True, False)]
        written = write_strip(pairs, folder / STRIP_NAME)
        assert written is not None
        return written.relative_to(self._deps.workspace.root).as_posix()

    def plan(self, state: LoopState) -> list[GenerationRequest]:
        self._start("plan")
        self.calls["plan"] += 1
        return [
            GenerationRequest(
                id=f"{batch_id_for(state)}-{i}",
                slice_name="brightness=low",
                prompt="a car at night",
                seed=i,
                conditions={
                    "lighting": "night",
                    "weather": "clear",
                    "distance": "mid",
                    "crowding": "sparse",
                },
            )
            for i in range(4)
        ]

    def generate(self, state: LoopState, batch_id: str) -> Generation:
        self._start("generate")
        self.calls["generate"] += 1
        manifest = self._deps.workspace.root / f"{batch_id}.json"
        manifest.write_text(json.dumps({"images": [], "failed": {}}))
        return Generation(manifest=str(manifest), generated=4, failed=0)

    def label(self, state: LoopState, batch_id: str, manifest: Path) -> Labelling:
        self._start("label")
        self.calls["label"] += 1
        return Labelling(labelled=4)

    def score(self, state: LoopState, batch_id: str) -> Scoring:
        self._start("score")
        index = min(self.calls["score"], len(self.scores) - 1)
        self.calls["score"] += 1
        scores = QualityScores(**self.scores[index])
        return Scoring(
            scores=scores,
            kept=self.kept,
            over=scores.worst_over(self._deps.settings.quality.thresholds()),
            # Like the real step: fewer than two images are not scored.
            unscored=None if self.kept >= 2 else f"{self.kept} images: too few to score",
        )

    def apply_decision(self, state: LoopState, decision: Decision) -> int:
        self._start("apply_decision")
        self.calls["decision"] += 1
        assert state.batch is not None
        self._deps.registry.decide_batch(
            state.batch.batch_id,
            "approved" if decision.approved else "rejected",
            decision.by,
            decision.reason,
        )
        return self.kept if decision.approved else 0

    def retrain(self, state: LoopState, candidate: str) -> Training:
        self._start("retrain")
        self.calls["retrain"] += 1
        self._deps.registry.add_model(
            candidate,
            self._deps.workspace.root / f"{candidate}.pt",
            state.incumbent,
            "candidate",
            {},
            state.cycle,
        )
        self._maybe_die("retrain")
        return Training(
            candidate=candidate, weights="x", seconds=1.0, field=10, synthetic=4, share=0.3
        )

    def gate(self, state: LoopState, candidate: str) -> GateResult:
        self._start("gate_candidate")
        index = min(self.calls["gate"], len(self.promote) - 1)
        self.calls["gate"] += 1
        promote = self.promote[index]
        if promote:
            self._deps.registry.promote(candidate, "better")
        else:
            self._deps.registry.set_model_status(candidate, "rejected", "not better")
        self._maybe_die("gate")
        return GateResult(
            promote=promote,
            objective_before=0.3,
            objective_after=0.5 if promote else 0.3,
            map50_before=0.6,
            map50_after=0.6,
            reasons=["fake"],
        )


def fake_deps(root: Path, work: FakeWork | None = None, **settings: Any) -> Deps:
    """Deps with a real workspace folder and registry and the loop's work faked (`work`, or a
    default `FakeWork`); model-facing members are unused by the fakes."""
    workspace = Workspace(root)
    workspace.create()
    settings.setdefault("workspace_id", "fake")
    (root / "failforge.yaml").write_text(yaml.safe_dump(settings))
    config = Settings(workspace=root, **settings)
    registry = Registry.at(config.state_location())
    if registry.model("v1") is None:
        registry.add_model("v1", root / "v1.pt", None, "incumbent", {})
    return Deps(
        settings=config,
        workspace=workspace,
        registry=registry,
        datasets=None,  # type: ignore[arg-type]
        detector=None,  # type: ignore[arg-type]
        analyst=None,  # type: ignore[arg-type]
        generator=None,  # type: ignore[arg-type]
        labeler=None,  # type: ignore[arg-type]
        planner=build_planner(config.loop.strategy),
        request_checker=ConditionReadBack(),
        bind_work=(work or FakeWork()).bind,
    )


class FieldDatasets:
    """Stands in for WorkspaceDatasets' read side over rendered field images."""

    def __init__(self, images: list[FieldImage], size: int) -> None:
        self.images, self.size = images, size

    def split(self, name: str) -> str:
        return name

    def samples(self, view: str) -> list[SampleRef]:
        return [SampleRef(f"s{k}", i.path, self.size, self.size) for k, i in enumerate(self.images)]

    def labels(self, view: str) -> list[Any]:
        return [make_detections(i.boxes, i.class_ids) for i in self.images]


class FakeDetector:
    """A detector port that trains in no time and finds a known share of the true objects.

    Its "weights" are a small JSON file holding its skill: the share of objects it finds.
    Training starts from the given weights' skill and adds `gain`; prediction returns the
    truth it was given for each image, keeping an object when a hash of (image, object) falls
    under the skill, so a better model finds a superset of what a worse one found. Embeddings
    are the image's colours pooled on an 8 x 8 grid. Each training's data is recorded.
    """

    def __init__(self, truth: dict[str, sv.Detections], classes: list[str], gain: float) -> None:
        self.truth, self.classes, self.gain = truth, classes, gain
        self.trained: list[dict[str, Any]] = []

    @staticmethod
    def save(path: Path, skill: float) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"skill": skill}))
        return path

    @staticmethod
    def skill(weights: Path) -> float:
        return float(json.loads(weights.read_text())["skill"])

    def train(
        self,
        data_yaml: Path,
        out_dir: Path,
        init_weights: Path | None,
        epochs: int,
        on_epoch: Callable[[int, int], None] | None = None,
    ) -> TrainResult:
        data = yaml.safe_load(data_yaml.read_text())
        images = sorted((Path(data["path"]) / data["train"]).iterdir())
        self.trained.append({"images": len(images), "init": init_weights, "epochs": epochs})
        for epoch in range(1, epochs + 1):
            if on_epoch is not None:
                on_epoch(epoch, epochs)
        start = self.skill(init_weights) if init_weights else 0.0
        weights = self.save(out_dir / "weights" / "best.pt", min(1.0, start + self.gain))
        return TrainResult(weights=weights, seconds=0.0, epochs=epochs, train_images=len(images))

    def predict(self, weights: Path, images: Sequence[Path]) -> list[sv.Detections]:
        skill = self.skill(weights)
        found = []
        for path in images:
            truth = self.truth.get(str(path), make_detections(np.zeros((0, 4)), np.zeros(0)))
            # The key leaves out pytest's temporary folder, so a test draws the same objects on
            # every run (keyed by the absolute path, a test's outcome changed from run to run).
            key = "/".join(Path(path).parts[-3:])
            keep = np.array([_share(f"{key}:{k}") < skill for k in range(len(truth))], bool)
            kept = truth[keep] if len(truth) else truth
            kept.confidence = np.full(len(kept), 0.9)
            found.append(kept)
        return found

    def embed(self, weights: Path, images: Sequence[Path]) -> np.ndarray:
        pooled = []
        for path in images:
            with Image.open(path) as image:
                pooled.append(np.asarray(image.convert("RGB").resize((8, 8)), np.float32).ravel())
        return np.stack(pooled) / 255.0 if pooled else np.zeros((0, 192), np.float32)


def _share(key: str) -> float:
    """A stable number in [0, 1) for a key."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 16**8


def night_misses_table(field: Sequence[Any]) -> ObjectTable:
    """A val object table of one small car per field image (`tools.world.field.FieldImage`),
    which the incumbent misses exactly in the night images."""
    night = np.array([image.conditions.lighting == "night" for image in field])
    return ObjectTable(
        [f"s{k}" for k in range(len(field))],
        np.array(["car"] * len(field)),
        {"box_size": np.full(len(field), 0.1)},
        ~night,
    )
