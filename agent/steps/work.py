"""The loop's real work (the `LoopWork` port): the step functions, bound to one `Deps`.

The graph's nodes call `deps.work`, never the step functions' modules, so a test hands the
graph a recording fake through `Deps.bind_work` instead of patching modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.steps import batches, counterfactuals, failures, training

if TYPE_CHECKING:
    from agent.ports import Deps
    from agent.results import Discovery, Generation, Labelling, Scoring, Training
    from agent.state import Decision, LoopState
    from evaluation.counterfactual import CounterfactualResult
    from evaluation.gate import GateResult
    from tools.analyst.base import FailureAnalysis
    from tools.generator.base import GenerationRequest


class StepWork:
    """The functions of `agent.steps`, which call the models and stores behind `deps`."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def ensure_val_predictions(self, model: str) -> None:
        failures.ensure_val_predictions(self.deps, model)

    def discover(self, state: LoopState) -> Discovery:
        return failures.discover(self.deps, state)

    def analyze(self, state: LoopState) -> FailureAnalysis:
        return failures.analyze(self.deps, state)

    def check_hypotheses(self, state: LoopState) -> CounterfactualResult:
        return counterfactuals.check_hypotheses(self.deps, state)

    def plan(self, state: LoopState) -> list[GenerationRequest]:
        return batches.plan(self.deps, state)

    def generate(self, state: LoopState, batch_id: str) -> Generation:
        return batches.generate(self.deps, state, batch_id)

    def label(self, state: LoopState, batch_id: str, manifest: Path) -> Labelling:
        return batches.label(self.deps, state, batch_id, manifest)

    def score(self, state: LoopState, batch_id: str) -> Scoring:
        return batches.score(self.deps, state, batch_id)

    def apply_decision(self, state: LoopState, decision: Decision) -> int:
        return batches.apply_decision(self.deps, state, decision)

    def retrain(self, state: LoopState, candidate: str) -> Training:
        return training.retrain(self.deps, state, candidate)

    def gate(self, state: LoopState, candidate: str) -> GateResult:
        return training.gate_against_incumbent(self.deps, state, candidate)
