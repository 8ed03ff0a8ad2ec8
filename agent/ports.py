"""The loop's ports: `Deps` and the Protocols it holds (types only; no step is imported here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from agent.results import Discovery, Generation, Labelling, Scoring, Training
    from agent.settings import Settings
    from agent.state import Decision, LoopState
    from evaluation.counterfactual import CounterfactualResult
    from evaluation.gate import GateResult
    from storage.datasets import WorkspaceDatasets
    from storage.registry import Registry
    from storage.workspace import Workspace
    from tools.analyst.base import FailureAnalysis, FailureAnalyst
    from tools.detector.base import Detector
    from tools.generator.base import GenerationRequest, ImageGenerator
    from tools.generator.check import RequestChecker
    from tools.labeler.base import Labeler

Progress = Callable[[str, int, int], None]  # (task, done, total)


def no_progress(task: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class Budget:
    """What one batch may spend: images, the batch's id (request ids derive from it) and a seed."""

    images: int
    batch_id: str
    seed: int


class BatchPlanner(Protocol):
    """Turns the cycle's state into generation requests (the loop's targeting or a benchmark arm)."""

    name: str
    # Stop the loop when discovery finds no failure slice (there is nothing to aim at).
    needs_slices: bool
    # Train every cycle even without images (the `none` arm: the recipe on field data alone).
    trains_without_images: bool

    def plan(self, deps: Deps, state: LoopState, budget: Budget) -> list[GenerationRequest]: ...


class LoopWork(Protocol):
    """One method per side-effecting step of a cycle, in the order the graph runs them.

    Bound to one `Deps` when it is made (`Deps.bind_work`), so the nodes hand it the state only.
    """

    def ensure_val_predictions(self, model: str) -> None: ...

    def discover(self, state: LoopState) -> Discovery: ...

    def analyze(self, state: LoopState) -> FailureAnalysis: ...

    def check_hypotheses(self, state: LoopState) -> CounterfactualResult: ...

    def plan(self, state: LoopState) -> list[GenerationRequest]: ...

    def generate(self, state: LoopState, batch_id: str) -> Generation: ...

    def label(self, state: LoopState, batch_id: str, manifest: Path) -> Labelling: ...

    def score(self, state: LoopState, batch_id: str) -> Scoring: ...

    def apply_decision(self, state: LoopState, decision: Decision) -> int: ...

    def retrain(self, state: LoopState, candidate: str) -> Training: ...

    def gate(self, state: LoopState, candidate: str) -> GateResult: ...


@dataclass
class Deps:
    """Everything the loop and the commands call, built once per process by `agent.bootstrap`."""

    settings: Settings
    workspace: Workspace
    registry: Registry
    datasets: WorkspaceDatasets
    detector: Detector
    analyst: FailureAnalyst
    generator: ImageGenerator
    labeler: Labeler
    # How a cycle's budget becomes requests: the agent's targeting or a benchmark arm.
    planner: BatchPlanner
    # Whether each image came out as its request asked (conditions read back, or CLIP).
    request_checker: RequestChecker
    # Makes the loop's side-effecting work for these deps: the steps (bootstrap) or a fake (tests).
    bind_work: Callable[[Deps], LoopWork]
    # Long steps report (task, done, total) here; the CLI draws progress bars from it.
    progress: Progress = no_progress
    # The loop's work, bound to these deps once; the graph's nodes call it.
    work: LoopWork = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.work = self.bind_work(self)
