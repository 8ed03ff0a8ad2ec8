"""One function per loop step: read the state, call one operation, return a partial update."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from langgraph.types import interrupt
from pydantic import BaseModel

from agent import steps as ops
from agent.ports import Deps
from agent.results import CandidateName, Discovery, Generation, Labelling, Scoring, Training
from agent.state import BatchSummary, CarriedCandidate, CycleRecord, Decision, LoopState
from agent.steps.prompts import revise
from evaluation.counterfactual import CounterfactualResult
from evaluation.gate import GateResult
from storage.registry import Event

Result = TypeVar("Result", bound=BaseModel)


def once(
    deps: Deps, state: LoopState, step: str, kind: type[Result], work: Callable[[], Result]
) -> Result:
    """Run a side-effecting step once per (loop, cycle, revision, step); replay its result after.

    The result is stored in the registry (not a LangGraph @task: the registry also serves the
    event log and the benchmark's reading of what each cycle discovered) and replayed as `kind`.
    """
    key = _step_key(state, step)
    done = deps.registry.step_result(key)
    if done is not None:
        deps.registry.log("step_replayed", state.loop_id, state.cycle, step)
        return kind.model_validate(done)
    result = work()
    stored = result.model_dump(mode="json")
    event = Event(
        kind="step_finished",
        loop_id=state.loop_id,
        cycle=state.cycle,
        step=step,
        payload={k: v for k, v in stored.items() if isinstance(v, int | float | str)},
    )
    # A run that stored it first wins: replay theirs.
    return kind.model_validate(deps.registry.record_step(key, stored, event))


def log_once(deps: Deps, state: LoopState, kind: str, step: str, **payload: Any) -> None:
    """A node's event, written once per (loop, cycle, revision) even when a resume reruns it."""
    deps.registry.log_once(
        _step_key(state, kind), kind, state.loop_id, state.cycle, step, **payload
    )


def _step_key(state: LoopState, name: str) -> str:
    """What a step's result or event is stored under: one per (loop, cycle, revision, name)."""
    return f"{state.loop_id}/c{state.cycle}/r{state.revision}/{name}"


def evaluate_detector(state: LoopState, deps: Deps) -> dict[str, Any]:
    incumbent = deps.registry.incumbent()
    if incumbent is None:
        raise RuntimeError("No incumbent model; train one with `failforge baseline` first.")
    deps.work.ensure_val_predictions(incumbent.name)
    log_once(deps, state, "cycle_started", "evaluate_detector", incumbent=incumbent.name)
    return {"incumbent": incumbent.name}


def discover_failures(state: LoopState, deps: Deps) -> dict[str, Any]:
    found = once(deps, state, "discover_failures", Discovery, lambda: deps.work.discover(state))
    return {"slices": found.slices, "bin_edges": found.edges}


def analyze_failures(state: LoopState, deps: Deps) -> dict[str, Any]:
    analysis = deps.work.analyze(state)
    log_once(
        deps,
        state,
        "analysis",
        "analyze_failures",
        **analysis.model_dump(mode="json"),
    )
    return {"analysis": analysis}


def check_hypotheses(state: LoopState, deps: Deps) -> dict[str, Any]:
    """Each hypothesis tested on its slice's val misses (off: no verdicts, planning as before)."""
    if not deps.settings.loop.check_hypotheses:
        return {"counterfactuals": None}
    work = partial(deps.work.check_hypotheses, state)
    result = once(deps, state, "check_hypotheses", CounterfactualResult, work)
    payload = {
        "verdicts": result.verdicts(),
        "checks": [line.model_dump(mode="json") for line in result.lines()],
        "seconds": round(result.seconds, 2),
    }
    log_once(deps, state, "hypotheses_checked", "check_hypotheses", **payload)
    return {"counterfactuals": result}


def plan_batch(state: LoopState, deps: Deps) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if state.batch is not None:  # back from score_batch: revise with its feedback
        variation, realism, notes = revise(
            state.batch.over_threshold, state.variation, state.realism
        )
        deps.registry.decide_batch(state.batch.batch_id, "revised", "agent", "; ".join(notes))
        state = state.model_copy(
            update={
                "revision": state.revision + 1,
                "variation": variation,
                "realism": realism,
                "feedback": notes,
            }
        )
        update = {
            "revision": state.revision,
            "variation": variation,
            "realism": realism,
            "feedback": notes,
            "batch": None,
        }
    requests = deps.work.plan(state)
    return {**update, "requests": requests}


def generate_images(state: LoopState, deps: Deps) -> dict[str, Any]:
    batch_id = ops.batch_id_for(state)
    made = once(
        deps,
        state,
        "generate_images",
        Generation,
        lambda: deps.work.generate(state, batch_id),
    )
    return {
        "batch": BatchSummary(
            batch_id=batch_id,
            manifest=made.manifest,
            generated=made.generated,
            failed=made.failed,
            labelled=0,
            kept=0,
        )
    }


def label_images(state: LoopState, deps: Deps) -> dict[str, Any]:
    assert state.batch is not None
    batch = state.batch
    labelled = once(
        deps,
        state,
        "label_images",
        Labelling,
        lambda: deps.work.label(state, batch.batch_id, Path(batch.manifest)),
    )
    return {
        "batch": batch.model_copy(
            update={
                "labelled": labelled.labelled,
                "dropped_boxes": labelled.dropped_boxes,
                "label_flagged": labelled.label_flagged,
                "label_errors": labelled.label_errors,
            }
        )
    }


def score_batch(state: LoopState, deps: Deps) -> dict[str, Any]:
    assert state.batch is not None
    batch = state.batch

    scored = once(
        deps, state, "score_batch", Scoring, lambda: deps.work.score(state, batch.batch_id)
    )
    summary = batch.model_copy(
        update={
            "scores": scored.scores,
            "kept": scored.kept,
            "group_scores": scored.groups,
            "over_threshold": scored.over,
            "as_asked": scored.as_asked,
            "unmet": scored.unmet,
            "unscored": scored.unscored,
        }
    )
    deps.registry.add_batch(
        batch.batch_id,
        state.loop_id,
        state.cycle,
        scored.kept,
        {
            **scored.scores.model_dump(),
            "over_threshold": scored.over,
            "dropped": scored.dropped,
            "as_asked": scored.as_asked,
            "unmet": scored.unmet,
            "unscored": scored.unscored,
        },
        [r.prompt for r in state.requests],
    )
    return {"batch": summary}


def request_approval(state: LoopState, deps: Deps) -> dict[str, Any]:
    """Nothing but the approval: the policy approves a clean batch, otherwise a person decides.

    A batch without scores is never approved as clean: the `none` arm's (no images, by design)
    goes on, an empty one under auto-approval is skipped with its reason, any other waits.
    """
    assert state.batch is not None
    unscored = state.batch.unscored
    if unscored is not None and deps.planner.trains_without_images:
        return {"decision": Decision(approved=True, by="policy", reason=f"{unscored}: by design")}
    if unscored is not None and state.auto_approve and state.batch.kept == 0:
        # Nothing to train on and nothing to judge: the cycle is skipped, and says why.
        return {"decision": Decision(approved=False, by="policy", reason=f"skipped: {unscored}")}
    if state.auto_approve and unscored is None and not state.batch.over_threshold:
        return {
            "decision": Decision(
                approved=True, by="policy", reason="all four quality scores under their thresholds"
            )
        }
    # The payload travels as plain JSON: Studio shows it and answers with a plain object too.
    answer = interrupt(ops.approval_payload(state).model_dump())
    return {"decision": Decision.model_validate(answer)}


def record_decision(state: LoopState, deps: Deps) -> dict[str, Any]:
    assert state.decision is not None and state.batch is not None
    approved = deps.work.apply_decision(state, state.decision)
    log_once(
        deps,
        state,
        "batch_decided",
        "record_decision",
        batch_id=state.batch.batch_id,
        approved=state.decision.approved,
        by=state.decision.by,
        reason=state.decision.reason,
        images=approved,
    )
    return {"batch": state.batch.model_copy(update={"kept": approved})}


def retrain_detector(state: LoopState, deps: Deps) -> dict[str, Any]:
    # The name is fixed before training starts, so a run killed mid-training reuses it.
    candidate = once(
        deps,
        state,
        "name_candidate",
        CandidateName,
        lambda: CandidateName(candidate=deps.registry.next_model_name()),
    ).candidate
    trained = once(
        deps, state, "retrain_detector", Training, lambda: deps.work.retrain(state, candidate)
    )
    return {"candidate": trained.candidate}


def gate_candidate(state: LoopState, deps: Deps) -> dict[str, Any]:
    assert state.candidate is not None
    candidate = state.candidate
    verdict = once(
        deps,
        state,
        "gate_candidate",
        GateResult,
        lambda: deps.work.gate(state, candidate),
    )
    log_once(
        deps,
        state,
        "gate",
        "gate_candidate",
        candidate=candidate,
        promote=verdict.promote,
        reasons="; ".join(verdict.reasons),
        outcomes=verdict.verdicts(),
        carried=verdict.carried,
    )
    # An inconclusive candidate waits for the next cycle's; any other verdict ends the wait.
    carried = (
        CarriedCandidate(name=candidate, incumbent=state.incumbent, cycle=state.cycle)
        if verdict.carried
        else None
    )
    return {"gate": verdict, "carried": carried}


def decide_next(state: LoopState, deps: Deps) -> dict[str, Any]:
    approved = bool(state.decision and state.decision.approved)
    images = state.batch.kept if (state.batch and approved) else 0
    verdict = state.gate if approved else None
    promoted = bool(verdict and verdict.promote)
    record = CycleRecord(
        cycle=state.cycle,
        batch_id=state.batch.batch_id if state.batch else None,
        approved=approved,
        images=images,
        candidate=state.candidate if approved else None,
        promoted=promoted,
        targets=[s.name for s in state.slices],
        objective_before=verdict.objective_before if verdict else None,
        objective_after=verdict.objective_after if verdict else None,
        map50_before=verdict.map50_before if verdict else None,
        map50_after=verdict.map50_after if verdict else None,
        reasons=verdict.reasons if verdict else [state.decision.reason if state.decision else ""],
        outcomes=verdict.verdicts() if verdict else {},
        checked=state.counterfactuals.verdicts() if state.counterfactuals else {},
    )
    spent = state.spent + images
    without = 0 if promoted else state.cycles_without_promotion + 1
    stop = stop_reason(state, deps, spent, without, verdict)
    log_once(
        deps,
        state,
        "cycle_finished",
        "decide_next",
        promoted=promoted,
        images=images,
        stop_reason=stop or "",
    )
    update: dict[str, Any] = {
        "history": [*state.history, record],
        "spent": spent,
        "cycles_without_promotion": without,
        "stop_reason": stop,
    }
    if stop is None:
        update.update(
            cycle=state.cycle + 1,
            revision=0,
            batch=None,
            decision=None,
            candidate=None,
            gate=None,
            requests=[],
            counterfactuals=None,  # a next cycle stopped before its check shows no old verdicts
            feedback=[],
            variation=0.0,
            realism=state.realism,
        )
    return update


def stop_reason(
    state: LoopState, deps: Deps, spent: int, without: int, verdict: GateResult | None
) -> str | None:
    """Why the loop stops after this cycle, or None to go on."""
    if not state.slices and deps.planner.needs_slices:
        return "no failure slice found: nothing to target"
    reached = verdict.objective_after if verdict and verdict.promote else None
    if reached is not None and reached >= deps.settings.loop.target_recall:
        return f"target reached: objective {reached:.3f}"
    if spent >= state.budget:
        return f"image budget spent ({spent} of {state.budget})"
    if without >= deps.settings.loop.patience:
        return f"no promotion for {without} cycles"
    if state.cycle >= state.max_cycles:
        return f"cycle limit reached ({state.max_cycles})"
    return None


# -- routing (pure) ------------------------------------------------------------------------------
def route_after_score(
    state: LoopState, max_revisions: int
) -> Literal["plan_batch", "request_approval"]:
    if state.batch and state.batch.over_threshold and state.revision < max_revisions:
        return "plan_batch"
    return "request_approval"


def route_after_discover(
    state: LoopState, needs_slices: bool = True
) -> Literal["analyze_failures", "decide_next"]:
    """Targeted strategies need a failure slice to aim at; the baselines go on without one."""
    return "analyze_failures" if state.slices or not needs_slices else "decide_next"


def route_after_decision(
    state: LoopState, train_without_images: bool = False
) -> Literal["retrain_detector", "decide_next"]:
    """Train on an approved batch with images (or, for the `none` baseline, on field data alone)."""
    approved = bool(state.decision and state.decision.approved and state.batch)
    if approved and state.batch is not None and (state.batch.kept > 0 or train_without_images):
        return "retrain_detector"
    return "decide_next"


def route_after_cycle(state: LoopState) -> Literal["evaluate_detector", "__end__"]:
    return "__end__" if state.stop_reason else "evaluate_detector"
