"""Exploration in the targeted plan (`loop.exploration: thompson`): the share of a batch that
`agent.steps.exploration.plan_exploration` gives to conditions no hypothesis blames becomes
generation requests, one drawn condition value per image; the rest is planned as without it.

Only the targeted planner on a rendered world explores; a user's photographs (attribute plans)
do not yet. Every input is read from val pixels, boxes and predictions, and from the unlabelled
deployment images, never from world truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.steps.condition_reads import deployment_prevalence_of, val_conditions
from agent.steps.exploration import Exploration, condition_evidence, plan_exploration
from agent.steps.failures import val_object_table
from agent.steps.prompts import _request, refuted
from evaluation.slices import FailureSlice
from tools.analyst.base import FailureAnalysis
from tools.generator.base import GenerationRequest
from tools.vocabulary import CONDITIONS

if TYPE_CHECKING:
    from agent.ports import Budget, Deps
    from agent.state import LoopState

# The slice name of exploration requests: one group in the batch's scores and its budget lines.
EXPLORE = "explore"


def aimed_values(
    analysis: FailureAnalysis, slices: Sequence[FailureSlice], verdicts: dict[str, str] | None
) -> dict[str, set[str]]:
    """Per condition, the values the hypotheses of `slices` blame (a refuted one blames none)."""
    names = {s.name for s in slices}
    aimed: dict[str, set[str]] = {}
    for hypothesis in analysis.hypotheses:
        if hypothesis.slice_name in names and not refuted(hypothesis, verdicts):
            for name, value in hypothesis.conditions.given().items():
                aimed.setdefault(name, set()).add(value)
    return aimed


def exploration_requests(
    exploration: Exploration,
    classes: Sequence[str],
    batch_id: str,
    start: int,
    seed: int,
    realism: float = 0.0,
) -> list[GenerationRequest]:
    """One generated image per exploration draw, numbered on from `start`; its subject class
    uniform (as for an aimed slice without a class), from its own generator seeded by `seed`
    (the aimed plan's draws stay as they were)."""
    rng = np.random.default_rng((seed, 1))
    requests = []
    for index, conditions in enumerate(exploration.draws, start):
        cls = str(rng.choice(list(classes)))
        rid = f"{batch_id}-{index:04d}"
        requests.append(_request(rng, rid, EXPLORE, cls, dict(conditions), [], realism=realism))
    return requests


def explore(
    deps: Deps,
    state: LoopState,
    budget: Budget,
    slices: Sequence[FailureSlice],
    analysis: FailureAnalysis,
    verdicts: dict[str, str] | None,
) -> Exploration:
    """This batch's exploration: the Thompson share and draws from the incumbent's val misses
    per estimated condition value, the earlier outcomes, and deployment prevalence if known."""
    loop = deps.settings.loop
    estimated = val_conditions(deps)
    table = val_object_table(deps, state.incumbent)
    evidence = condition_evidence(table.sample_ids, table.found, estimated, CONDITIONS)
    prevalence = None
    if loop.deploy_images is not None:
        prevalence = deployment_prevalence_of(deps, estimated)
    named = {h.slice_name for h in analysis.hypotheses}
    return plan_exploration(
        [o.model_dump() for o in state.earlier_outcomes()],
        [s for s in slices if s.name in named],
        evidence,
        CONDITIONS,
        aimed_values(analysis, slices, verdicts),
        budget.images,
        budget.seed,
        loop.explore_share_min,
        loop.explore_share_max,
        prevalence,
    )


def exploration_key(state: LoopState) -> str:
    """Where a batch's exploration is recorded: one per (loop, cycle, revision)."""
    return f"{state.loop_id}/c{state.cycle}/r{state.revision}/exploration"


def record(deps: Deps, state: LoopState, exploration: Exploration, images: int) -> dict[str, Any]:
    """Store what the batch explores and why (read by `failforge status` beside the batch's
    budget per slice), with a `batch_explored` event; a resumed plan keeps the first record."""
    key = exploration_key(state)
    result = {
        "share": round(exploration.share, 3),
        "images": len(exploration.draws),
        "of": images,
        "explored": exploration.explored,
        "reason": exploration.reason,
    }
    deps.registry.log_once(
        key, "batch_explored", state.loop_id, state.cycle, "plan_batch", **result
    )
    return deps.registry.record_step(key, result)
