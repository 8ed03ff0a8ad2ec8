"""Planning strategies (the BatchPlanner port): how a cycle's image budget becomes requests.

The loop plans with `targeted`; the benchmark's arms plan with the others at the same budget.
`agent/bootstrap.py` builds the one in use from `loop.strategy`; nothing else compares strategy
names. The port (`BatchPlanner`, `Budget`) is declared in `agent/ports.py`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.ports import BatchPlanner, Budget
from agent.steps import attribute_plans, explore_plan
from agent.steps.aim_weights import deployment_miss_weights, miss_weights, missed_classes
from agent.steps.failures import embed_cached, val_object_table
from agent.steps.prompts import SUBJECTS, plan_requests, prompt_for
from evaluation.field_conditions import estimate_field_conditions
from evaluation.slices import FailureSlice, bin_edges
from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions
from tools.convert import class_ids
from tools.generator.base import EditSource, GenerationRequest
from tools.generator.retrieval import nearest_pool_images, pool_entries
from tools.vocabulary import CONDITIONS

if TYPE_CHECKING:
    from agent.ports import Deps
    from agent.state import LoopState


class NonePlanner:
    """No images: the cycle fine-tunes on field data alone (training longer, the control arm)."""

    name = "none"
    needs_slices = False
    trains_without_images = True

    def plan(self, deps: Deps, state: LoopState, budget: Budget) -> list[GenerationRequest]:
        return []


class TargetedPlanner:
    """The agent: budget per failure slice, conditions the analyst blames fixed, edits of real images."""

    name = "targeted"
    needs_slices = True
    trains_without_images = False

    def plan(self, deps: Deps, state: LoopState, budget: Budget) -> list[GenerationRequest]:
        assert state.analysis is not None
        loop = deps.settings.loop
        # The counterfactual verdicts of this cycle (None when unchecked: planned as before).
        verdicts = state.counterfactuals.verdicts() if state.counterfactuals else None
        slices = _after_outcomes(state)
        if _photographs(deps):  # no exploration yet: attribute plans aim only
            return _pasted(deps, state, budget, state.analysis, slices, verdicts)
        exploration = None
        if loop.exploration == "thompson":
            exploration = explore_plan.explore(
                deps, state, budget, slices, state.analysis, verdicts
            )
        aimed = _aimed(
            deps,
            state,
            replace(budget, images=budget.images - len(exploration.draws))
            if exploration
            else budget,
            state.analysis,
            slices,
            verdicts=verdicts,
            concentrate=loop.concentrate,
            free_weights=miss_weights(deps, state) if loop.free_conditions == "misses" else None,
            subject_weights=missed_classes(deps, state)
            if loop.subject_classes == "misses"
            else None,
            blamed_weights=deployment_miss_weights(deps, state)
            if loop.blamed_values == "deployment"
            else None,
        )
        if exploration is None:
            return aimed
        # The exploration images follow the aimed ones, drawn from their own generator.
        explore_plan.record(deps, state, exploration, budget.images)
        classes, start = deps.settings.classes, len(aimed)
        return aimed + explore_plan.exploration_requests(
            exploration, classes, budget.batch_id, start, budget.seed, state.realism
        )


class UniformPlanner:
    """Domain randomisation: every condition and class uniform over the vocabulary."""

    name = "uniform"
    needs_slices = False
    trains_without_images = False

    def plan(self, deps: Deps, state: LoopState, budget: Budget) -> list[GenerationRequest]:
        if _photographs(deps):
            table, edges = _val_scale(deps, state)
            return attribute_plans.uniform_requests(
                table,
                edges,
                deps.settings.classes,
                _backgrounds(deps, budget),
                budget.images,
                budget.seed,
                budget.batch_id,
            )
        rng = np.random.default_rng(budget.seed)
        draws = [
            {name: str(rng.choice(values)) for name, values in CONDITIONS.items()}
            for _ in range(budget.images)
        ]
        classes = [str(rng.choice(list(deps.settings.classes))) for _ in draws]
        return _requests(self.name, budget, draws, classes, rng, described=True)


class GenericPlanner:
    """ "More data like the field": class-only requests, conditions as the field images show them.

    A user with a text-to-image model writes `a photo of a {class}` and gets scenes like the
    ones they already have. Each request copies the conditions estimated (from pixels and
    labels, never from world truth) of one random training image, and a class drawn in
    proportion to the field's objects.
    """

    name = "generic"
    needs_slices = False
    trains_without_images = False

    def plan(self, deps: Deps, state: LoopState, budget: Budget) -> list[GenerationRequest]:
        view = deps.datasets.split("train")
        samples = deps.datasets.samples(view)
        labels = deps.datasets.labels(view)
        if _photographs(deps):
            ids = np.concatenate([class_ids(d) for d in labels] + [np.zeros(0, dtype=int)])
            per_class = {c: int(np.sum(ids == k)) for k, c in enumerate(deps.settings.classes)}
            return attribute_plans.generic_requests(
                per_class, _backgrounds(deps, budget), budget.images, budget.seed, budget.batch_id
            )
        estimated = estimate_field_conditions(
            [str(s.path) for s in samples], [s.longest_side for s in samples], labels
        )
        counts = np.bincount(
            np.concatenate([class_ids(d) for d in labels] + [np.zeros(0, dtype=int)]).astype(int),
            minlength=len(deps.settings.classes),
        )
        weights = (counts + 1) / (counts + 1).sum()
        rng = np.random.default_rng(budget.seed)
        draws = [estimated[int(rng.integers(len(estimated)))] for _ in range(budget.images)]
        classes = [deps.settings.classes[int(rng.choice(len(weights), p=weights))] for _ in draws]
        # The prompt names the class alone; the conditions stand for the scenes such a prompt
        # yields, which the procedural renderer needs spelled out.
        return _requests(self.name, budget, draws, classes, rng, described=False)


class OraclePlanner:
    """An upper bound for the benchmark only: the targeted planner aimed at the true worst slices.

    The benchmark reads the baseline's worst `test` slices from world truth and hands them over
    as `loop.oracle_slices` (name -> recall deficit); this planner never reads truth itself.
    """

    name = "oracle"
    needs_slices = False
    trains_without_images = False

    def plan(self, deps: Deps, state: LoopState, budget: Budget) -> list[GenerationRequest]:
        chosen = deps.settings.loop.oracle_slices
        if not chosen:
            raise RuntimeError(
                "The oracle strategy needs loop.oracle_slices (the benchmark sets them)."
            )
        if _photographs(deps):
            slices_, analysis_ = attribute_plans.oracle_slices(chosen)
            return _pasted(deps, state, budget, analysis_, slices_)
        slices, hypotheses = [], []
        for name, deficit in chosen.items():
            condition, _, value = name.partition("=")
            slices.append(
                FailureSlice(
                    name=name,
                    conditions={condition: value},
                    support=1,
                    recall=0.0,
                    deficit=deficit,
                    score=deficit,
                )
            )
            blamed = SceneConditions.model_validate({condition: value})
            hypotheses.append(
                Hypothesis(
                    slice_name=name,
                    what_fails=name,
                    why="world truth (oracle)",
                    conditions=blamed,
                    confidence=1.0,
                )
            )
        analysis = FailureAnalysis(analyst="oracle", hypotheses=hypotheses)
        return _aimed(deps, state, budget, analysis, slices)


class RetrievalPlanner:
    """The pool images nearest (detector embeddings) to the val images with target-slice misses."""

    name = "retrieval"
    needs_slices = True
    trains_without_images = False

    def plan(self, deps: Deps, state: LoopState, budget: Budget) -> list[GenerationRequest]:
        pool_dir = deps.settings.backends.retrieval_pool
        if pool_dir is None:
            raise RuntimeError("The retrieval strategy needs backends.retrieval_pool.")
        entries = pool_entries(pool_dir)
        pool = embed_cached(deps, state.incumbent, "pool", [Path(e["path"]) for e in entries])
        view = deps.datasets.split("val")
        samples = deps.datasets.samples(view)
        val = embed_cached(deps, state.incumbent, "val", [s.path for s in samples])
        failing = {i for f in state.slices for i in f.example_ids}
        marks = deps.datasets.values(view, f"failures_c{state.cycle}")
        failing |= {s.id for s, m in zip(samples, marks, strict=True) if m}
        rows = [k for k, s in enumerate(samples) if s.id in failing]
        used_paths = set(
            deps.datasets.values(deps.datasets.synthetic(), "source_path")
            if "source_path" in deps.datasets.field_names(synthetic=True)
            else []
        )
        used = {k for k, e in enumerate(entries) if e["path"] in used_paths}
        chosen = nearest_pool_images(pool, val[rows], budget.images, used)
        return [
            GenerationRequest(
                id=f"{budget.batch_id}-{n:04d}",
                slice_name="retrieval",
                prompt="nearest real image from the pool",
                conditions={},
                seed=0,
                mode="retrieve",
                source_path=entries[k]["path"],
            )
            for n, k in enumerate(chosen)
        ]


PLANNERS: dict[str, type[BatchPlanner]] = {
    planner.name: planner
    for planner in (
        NonePlanner,
        GenericPlanner,
        UniformPlanner,
        TargetedPlanner,
        RetrievalPlanner,
        OraclePlanner,
    )
}


def _aimed(
    deps: Deps,
    state: LoopState,
    budget: Budget,
    analysis: FailureAnalysis,
    slices: list[FailureSlice],
    verdicts: dict[str, str] | None = None,
    concentrate: bool = False,
    free_weights: dict[str, dict[str, dict[str, float]]] | None = None,
    subject_weights: dict[str, dict[str, float]] | None = None,
    blamed_weights: dict[str, dict[str, dict[str, float]]] | None = None,
) -> list[GenerationRequest]:
    """Requests aimed at `slices` as `analysis` explains them: the targeted and oracle arms'
    shared planning, with the loop's floor, edit share, variation and realism."""
    return plan_requests(
        analysis,
        slices,
        budget.images,
        deps.settings.classes,
        budget.seed,
        budget.batch_id,
        deps.settings.loop.min_slice_share,
        deps.settings.loop.edit_share,
        edit_sources(deps, budget.seed),
        state.variation,
        state.realism,
        concentrate=concentrate,
        free_weights=free_weights,
        combine=deps.settings.loop.combine_blame,
        lend_focus=deps.settings.loop.class_focus,
        fit_layouts=deps.settings.loop.layout_edits,
        subject_weights=subject_weights,
        verdicts=verdicts,
        blamed_weights=blamed_weights,
    )


def _photographs(deps: Deps) -> bool:
    """A workspace of the user's own photographs: requests paste and edit, never render."""
    return deps.settings.vocabulary() == "attributes"


def _val_scale(deps: Deps, state: LoopState) -> tuple[Any, dict[str, list[float]]]:
    """The incumbent's val object table and its bin edges (discovery's, when it ran)."""
    table = val_object_table(deps, state.incumbent)
    return table, state.bin_edges or bin_edges(table)


def _backgrounds(deps: Deps, budget: Budget) -> list[EditSource]:
    """Every labelled train image, as a background to paste into (never val or test)."""
    return edit_sources(deps, budget.seed, count=len(deps.datasets.split("train")))


def _pasted(
    deps: Deps,
    state: LoopState,
    budget: Budget,
    analysis: FailureAnalysis,
    slices: list[FailureSlice],
    verdicts: dict[str, str] | None = None,
) -> list[GenerationRequest]:
    """The targeted and oracle plans for a user's photographs (attribute_plans.aimed_requests)."""
    table, edges = _val_scale(deps, state)
    return attribute_plans.aimed_requests(
        analysis,
        slices,
        table,
        edges,
        deps.settings.classes,
        _backgrounds(deps, budget),
        budget.images,
        budget.seed,
        budget.batch_id,
        deps.settings.loop.min_slice_share,
        verdicts,
    )


def _after_outcomes(state: LoopState) -> list[FailureSlice]:
    """This cycle's slices, those whose earlier hypothesis was refuted (val recall fell after
    training on images aimed at them) at half their score: spend less where aiming failed."""
    refuted = {o.slice for o in state.earlier_outcomes() if o.verdict == "refuted"}
    return [
        s.model_copy(update={"score": s.score / 2}) if s.name in refuted else s
        for s in state.slices
    ]


def edit_sources(deps: Deps, seed: int, count: int = 60) -> list[EditSource]:
    """Training images (never val) whose layout an edit may re-stage, chosen by seed."""
    view = deps.datasets.split("train")
    samples = deps.datasets.samples(view)
    labels = deps.datasets.labels(view)
    rng = np.random.default_rng(seed)
    sources = []
    for i in rng.permutation(len(samples))[:count]:
        detections = labels[i]
        if len(detections):
            boxes = [
                (float(x0), float(y0), float(x1), float(y1), deps.settings.classes[int(c)])
                for (x0, y0, x1, y1), c in zip(detections.xyxy, class_ids(detections), strict=True)
            ]
            sources.append(EditSource(samples[i].id, str(samples[i].path), boxes))
    return sources


def _requests(
    slice_name: str,
    budget: Budget,
    draws: list[dict[str, str]],
    classes: list[str],
    rng: np.random.Generator,
    described: bool,
) -> list[GenerationRequest]:
    """Plain generation requests (no edits, no class focus) for drawn conditions and classes;
    `described` prompts spell the conditions out, the others name the class alone."""
    return [
        GenerationRequest(
            id=f"{budget.batch_id}-{index:04d}",
            slice_name=slice_name,
            prompt=prompt_for(cls, conditions, int(rng.integers(3)))
            if described
            else f"a photo of {SUBJECTS.get(cls, 'a ' + cls)}",
            conditions=conditions,
            class_focus=[],
            seed=int(rng.integers(2**31 - 1)),
        )
        for index, (conditions, cls) in enumerate(zip(draws, classes, strict=True))
    ]
