"""The loop's work as one port: what each graph node asks of models, files and databases.

The graph's nodes call `deps.work`, never the step functions' module, so a test hands the
graph a recording fake through `Deps` (the composition root) instead of patching modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from agent.steps import batches, failures, training

if TYPE_CHECKING:
    from agent.deps import Deps
    from agent.state import Decision, LoopState
    from agent.steps.results import Discovery, Generation, Labelling, Scoring, Training
    from evaluation.gate import GateResult
    from tools.analyst.base import FailureAnalysis
    from tools.generator.base import GenerationRequest


class LoopWork(Protocol):
    """One method per side-effecting step of a cycle, in the order the graph runs them."""

    def ensure_val_predictions(self, deps: Deps, model: str) -> None: ...

    def discover(self, deps: Deps, state: LoopState) -> Discovery: ...

    def analyze(self, deps: Deps, state: LoopState) -> FailureAnalysis: ...

    def plan(self, deps: Deps, state: LoopState) -> list[GenerationRequest]: ...

    def generate(self, deps: Deps, state: LoopState, batch_id: str) -> Generation: ...

    def label(self, deps: Deps, state: LoopState, batch_id: str, manifest: Path) -> Labelling: ...

    def score(self, deps: Deps, state: LoopState, batch_id: str) -> Scoring: ...

    def apply_decision(self, deps: Deps, state: LoopState, decision: Decision) -> int: ...

    def retrain(self, deps: Deps, state: LoopState, candidate: str) -> Training: ...

    def gate_candidate(self, deps: Deps, state: LoopState, candidate: str) -> GateResult: ...


class StepWork:
    """The real work: the functions of `agent.steps`, which call the models behind `deps`."""

    ensure_val_predictions = staticmethod(failures.ensure_val_predictions)
    discover = staticmethod(failures.discover)
    analyze = staticmethod(failures.analyze)
    plan = staticmethod(batches.plan)
    generate = staticmethod(batches.generate)
    label = staticmethod(batches.label)
    score = staticmethod(batches.score)
    apply_decision = staticmethod(batches.apply_decision)
    retrain = staticmethod(training.retrain)
    gate_candidate = staticmethod(training.gate_candidate)
