"""One candidate judged against the incumbent's val scorecard by the configured gate: its rule
(`gate.rule`) on its objective (`gate.objective`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.settings.thresholds import GateSettings
from evaluation.deployment_objective import DEPLOYMENT_SLICE, NOT_MEASURED, deployment_text
from evaluation.gate import GateResult, ModelScorecard, evidence_gate, gate, verdict
from evaluation.noninferior import noninferior_gate
from evaluation.objective import restated, worst_slices


@dataclass(frozen=True)
class CandidateJudge:
    """The gate as configured, against one incumbent: called on a candidate's scorecard (and,
    for the evidence rule, a carried candidate's name and verdict), it returns the verdict.

    `targets` are the cycle's target slices, `guarded` the single slices of every attribute
    bin and class (guarded by every rule, and the slices the `worst` objective picks from).
    With the `deployment` objective, both scorecards carry the weighted val slice
    (`evaluation.deployment_objective`) and `prevalence` is what weighed it.
    """

    settings: GateSettings
    min_support: int
    incumbent: ModelScorecard
    targets: list[str]
    guarded: list[str]
    prevalence: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __call__(
        self, candidate: ModelScorecard, carried: tuple[str, GateResult] | None = None
    ) -> GateResult:
        if self.settings.objective == "targets":
            return self._rule(candidate, self.targets, carried)
        if self.settings.objective == "deployment":
            if not all(DEPLOYMENT_SLICE in c.slice_recall for c in (self.incumbent, candidate)):
                held = verdict(self.incumbent, candidate, self.targets, [NOT_MEASURED], None, False)
                return held.model_copy(update={"objective_before": None, "objective_after": None})
            result = self._rule(candidate, [DEPLOYMENT_SLICE], carried)
            note = deployment_text(self.incumbent, self.prevalence)
            return restated(result, self.incumbent, candidate, self.targets, [], note)
        slices = worst_slices(
            self.incumbent,
            candidate,
            self.guarded,
            self.settings.worst_slices,
            self.min_support,
        )
        result = self._rule(candidate, slices, carried)
        return restated(result, self.incumbent, candidate, self.targets, slices)

    def _rule(
        self,
        candidate: ModelScorecard,
        objective: list[str],
        carried: tuple[str, GateResult] | None,
    ) -> GateResult:
        """The configured rule with `objective` as the slices whose mean recall it judges."""
        settings, incumbent = self.settings, self.incumbent
        if settings.rule in ("evidence", "noninferior"):  # the same paired evidence, read two ways
            read = (
                incumbent,
                candidate,
                objective,
                settings.max_map_drop,
                settings.max_slice_drop,
                self.guarded,
                settings.guarded_slices,
                settings.confidence or 0.9,
            )
            if settings.rule == "noninferior":
                return noninferior_gate(*read)
            return evidence_gate(*read, carried)
        return gate(
            incumbent,
            candidate,
            objective,
            settings.min_gain,
            settings.max_map_drop,
            settings.max_slice_drop,
            {k: v for k, v in incumbent.slice_recall.items() if k in self.guarded},
            settings.confidence,
            settings.guarded_slices,
        )
