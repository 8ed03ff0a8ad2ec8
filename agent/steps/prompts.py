"""Targeted prompts: split a batch's images over failure slices and write one prompt per image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evaluation.slices import FailureSlice
from tools.analyst.base import FailureAnalysis, Hypothesis
from tools.generator.base import EditSource, GenerationRequest
from tools.vocabulary import CONDITIONS

SUBJECTS = {"car": "a car", "person": "a pedestrian", "sign": "a traffic sign"}
ACTIONS = {
    "car": ["driving", "parked", "turning"],
    "person": ["walking", "standing", "crossing"],
    "sign": ["standing by the road", "on a pole", "at a junction"],
}
ENVIRONMENT = {
    "clear": "on a city street",
    "rain": "on a rain-soaked street",
    "fog": "on a foggy street",
    "snow": "on a snowy street",
}
LIGHTING = {"day": "in daylight", "dusk": "at dusk", "night": "at night"}
VIEWPOINT = {
    "near": "seen up close",
    "mid": "seen from across the street",
    "far": "seen from far away",
}
CROWDING = {"sparse": "", "dense": ", among a crowd of overlapping cars and people"}


def allocate(scores: Sequence[float], total: int, floor_share: float) -> list[int]:
    """Split `total` in proportion to `scores`, each part at least `floor_share` of it (largest remainder)."""
    if not scores or total <= 0:
        return [0] * len(scores)
    weights = np.maximum(np.asarray(scores, dtype=float), 0) + 1e-9
    weights = weights / weights.sum()
    floor = min(floor_share, 1 / len(weights))
    weights = floor + (1 - floor * len(weights)) * weights
    raw = weights * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


# The counterfactual verdict that takes a hypothesis' budget away: its edit recovered no more
# of the slice's misses than a placebo did, so the blamed factor does not explain them.
REFUTED = "not supported"


def evidence_scores(
    hypotheses: Sequence[Hypothesis],
    by_name: dict[str, FailureSlice],
    verdicts: dict[str, str] | None,
) -> list[float]:
    """Each hypothesis' share of the budget: its slice's score, or 0 (the floor alone) when the
    counterfactual check did not support it. Supported and undecided keep their score."""
    verdicts = verdicts or {}
    return [
        0.0 if verdicts.get(h.slice_name) == REFUTED else by_name[h.slice_name].score
        for h in hypotheses
    ]


def refuted(hypothesis: Hypothesis, verdicts: dict[str, str] | None) -> bool:
    """Whether the check found the hypothesis' blame unsupported: its floor images then draw the
    blamed conditions (or attributes) as an unblamed slice does, to try another explanation."""
    return (verdicts or {}).get(hypothesis.slice_name) == REFUTED


def prompt_for(cls: str, conditions: dict[str, str], variant: int) -> str:
    """`[subject] + [action] + [environment] + [lighting] + [viewpoint]`; any class name and any
    missing or unknown condition value reads as plain words instead of failing."""
    subject = SUBJECTS.get(cls, f"a {cls}")
    actions = ACTIONS.get(cls, ["in the scene"])
    action = actions[variant % len(actions)]
    parts = [
        ENVIRONMENT.get(conditions.get("weather", ""), ""),
        LIGHTING.get(conditions.get("lighting", ""), ""),
        VIEWPOINT.get(conditions.get("distance", ""), ""),
    ]
    text = f"{subject} {action} " + ", ".join(p for p in parts if p)
    return text.strip() + CROWDING.get(conditions.get("crowding", ""), "")


# Conditions an edit of a real image can change; its layout fixes how near and how crowded it is.
EDITABLE = frozenset({"lighting", "weather"})


def plan_requests(
    analysis: FailureAnalysis,
    slices: Sequence[FailureSlice],
    images: int,
    classes: Sequence[str],
    seed: int,
    batch_id: str,
    floor_share: float = 0.15,
    edit_share: float = 0.3,
    edit_sources: Sequence[EditSource] = (),
    variation: float = 0.0,
    realism: float = 0.0,
    concentrate: bool = False,
    free_weights: dict[str, dict[str, dict[str, float]]] | None = None,
    combine: float = 0.0,
    lend_focus: bool = True,
    fit_layouts: bool = False,
    subject_weights: dict[str, dict[str, float]] | None = None,
    verdicts: dict[str, str] | None = None,
    blamed_weights: dict[str, dict[str, dict[str, float]]] | None = None,
) -> list[GenerationRequest]:
    """Requests for one batch: budget per hypothesis in proportion to its slice's score.

    `verdicts` (slice -> counterfactual verdict): a hypothesis `not supported` gets the floor
    alone, and its images fix none of the conditions it blamed; None plans as without a check.

    Conditions a hypothesis blames are fixed; the others are drawn at random (more so with
    `variation`), uniformly or, with `free_weights` (slice -> condition -> value -> weight),
    towards where that slice's misses are. A share of requests edits real training images:
    their layout and classes are kept and re-staged under the blamed conditions.

    Levers: `concentrate`, `lend_focus` (`_concentrated`), `fit_layouts` (`_edit_source`),
    `combine`, `blamed_weights` (`_conditions`), `subject_weights` (class weights; `_subject`)."""
    rng = np.random.default_rng(seed)
    by_name = {s.name: s for s in slices}
    hypotheses, extra_focus = _concentrated(
        [h for h in analysis.hypotheses if h.slice_name in by_name], concentrate, lend_focus
    )
    counts = allocate(evidence_scores(hypotheses, by_name, verdicts), images, floor_share)
    blaming = [h for h in hypotheses if not refuted(h, verdicts)]
    others = _blamed_elsewhere(blaming, by_name) if combine > 0 else {}
    requests: list[GenerationRequest] = []
    for hypothesis, count in zip(hypotheses, counts, strict=True):
        blamed = {} if refuted(hypothesis, verdicts) else hypothesis.conditions.given()
        own = [c for c in hypothesis.classes if c in classes]
        focus = list(dict.fromkeys(c for c in [*own, *extra_focus] if c in classes))
        weights = (free_weights or {}).get(hypothesis.slice_name, {})
        redrawn = _redrawn(blamed, (blamed_weights or {}).get(hypothesis.slice_name, {}))
        editable = not concentrate or fit_layouts or set(blamed) <= EDITABLE
        elsewhere = others.get(hypothesis.slice_name, {})
        subjects = (subject_weights or {}).get(hypothesis.slice_name) if not own else None
        for _ in range(count):
            conditions = _conditions(rng, blamed, weights, elsewhere, combine, variation, redrawn)
            cls, image_focus = _subject(rng, classes, own, focus, subjects)
            source = _edit_source(rng, editable, edit_sources, edit_share)
            fields = _edit_fields(source, fit_layouts) | {"realism": realism}
            rid, name = f"{batch_id}-{len(requests):04d}", hypothesis.slice_name
            requests.append(_request(rng, rid, name, cls, conditions, image_focus, **fields))
    return requests


def _redrawn(
    blamed: dict[str, str], weights: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """The blamed conditions drawn per image by `weights` instead of fixed at the blamed value
    (`loop.blamed_values: deployment`): those of `blamed` that `weights` weighs."""
    return {name: values for name, values in weights.items() if name in blamed}


def _request(
    rng: np.random.Generator,
    request_id: str,
    slice_name: str,
    cls: str,
    conditions: dict[str, str],
    focus: list[str],
    **fields: Any,
) -> GenerationRequest:
    """One image to make: its prompt (one of three phrasings) and its seed, drawn in this order;
    `fields` the rest (realism, what an edit re-stages)."""
    return GenerationRequest(
        id=request_id,
        slice_name=slice_name,
        prompt=prompt_for(cls, conditions, int(rng.integers(3))),
        conditions=conditions,
        class_focus=focus,
        seed=int(rng.integers(2**31 - 1)),
        **fields,
    )


def _edit_fields(source: EditSource | None, fit_layouts: bool) -> dict[str, Any]:
    """A request's fields for re-staging `source` (none: the request generates anew)."""
    if source is None:
        return {}
    return {
        "mode": "edit",
        "source_sample_id": source.sample_id,
        "source_path": source.path,
        "source_boxes": source.boxes,
        "layout": "fit" if fit_layouts else "keep",
    }


def _concentrated(
    hypotheses: list[Hypothesis], concentrate: bool, lend_focus: bool
) -> tuple[list[Hypothesis], list[str]]:
    """The hypotheses that take budget, and the classes lent to all of them as focus.

    With `concentrate`, hypotheses that blame no condition (class-only slices) take no budget
    of their own; their classes become the focus of the others (not with `lend_focus` False).
    Without it, or when none blames a condition, every hypothesis takes budget."""
    if not concentrate or not any(h.conditions.given() for h in hypotheses):
        return hypotheses, []
    blameless = [h for h in hypotheses if not h.conditions.given()]
    lent = [c for h in blameless for c in h.classes] if lend_focus else []
    return [h for h in hypotheses if h.conditions.given()], lent


def _subject(
    rng: np.random.Generator,
    classes: Sequence[str],
    own: list[str],
    focus: list[str],
    subjects: dict[str, float] | None,
) -> tuple[str, list[str]]:
    """One image's subject class and focus: drawn by `subjects` (a hypothesis without classes
    of its own: the image leans to the drawn class, instead of a uniform subject over a scene
    of the world's usual class mix), else the hypothesis' own class, else uniform."""
    if subjects:
        cls = _draw(rng, list(classes), subjects)
        return cls, list(dict.fromkeys([cls, *focus]))
    return (own[0] if own else str(rng.choice(list(classes)))), focus


def _edit_source(
    rng: np.random.Generator,
    editable: bool,
    edit_sources: Sequence[EditSource],
    edit_share: float,
) -> EditSource | None:
    """The training image one request re-stages, with probability `edit_share`, or None.

    Under `concentrate`, edits go only where the blamed conditions are ones an edit can change
    (lighting, weather): a re-staged layout keeps its distance and crowding, which would drop a
    blamed `far` or `dense`; `fit_layouts` lets the generator rescale the layout and add
    occluders, so every hypothesis may get edits."""
    if editable and edit_sources and rng.random() < edit_share:
        return edit_sources[int(rng.integers(len(edit_sources)))]
    return None


def _conditions(
    rng: np.random.Generator,
    blamed: dict[str, str],
    weights: dict[str, dict[str, float]],
    elsewhere: dict[str, dict[str, float]],
    combine: float,
    variation: float,
    redrawn: dict[str, dict[str, float]] | None = None,
) -> dict[str, str]:
    """One image's conditions: the blamed ones kept (widened with `variation`), each free one
    taken from another hypothesis' blame with probability `combine`, else drawn by `weights`.

    `combine` (0-1) lets one image serve every target slice it can instead of one: far from one
    hypothesis and dense from another make far, dense scenes. A blamed condition in `redrawn`
    is drawn by its weights first (`_redrawn`)."""
    conditions = dict(blamed) | {
        n: _draw(rng, CONDITIONS[n], w) for n, w in (redrawn or {}).items()
    }
    for name, values in CONDITIONS.items():
        if name not in conditions:
            if elsewhere.get(name) and rng.random() < combine:
                conditions[name] = _draw(rng, values, elsewhere[name])
            else:
                conditions[name] = _draw(rng, values, weights.get(name))
        elif rng.random() < 0.5 * variation:
            conditions[name] = str(rng.choice(values))  # widen around the failure
    return conditions


def _blamed_elsewhere(
    hypotheses: Sequence[Hypothesis], by_name: dict[str, FailureSlice]
) -> dict[str, dict[str, dict[str, float]]]:
    """Per hypothesis, condition and value: the scores of the other hypotheses blaming it."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for h in hypotheses:
        for other in hypotheses:
            if other.slice_name == h.slice_name:
                continue
            for name, value in other.conditions.given().items():
                values = out.setdefault(h.slice_name, {}).setdefault(name, {})
                values[value] = values.get(value, 0.0) + max(by_name[other.slice_name].score, 1e-9)
    return out


def _draw(rng: np.random.Generator, values: Sequence[str], weights: dict[str, float] | None) -> str:
    """One value, uniformly or in proportion to `weights` (values missing from it weigh 0)."""
    if not weights:
        return str(rng.choice(list(values)))
    p = np.array([max(weights.get(v, 0.0), 0.0) for v in values], dtype=float)
    if p.sum() <= 0:
        return str(rng.choice(list(values)))
    return str(values[int(rng.choice(len(values), p=p / p.sum()))])


def revise(
    feedback_scores: dict[str, float], variation: float, realism: float
) -> tuple[float, float, list[str]]:
    """Turn the scores over threshold into plan changes: (variation, realism, notes)."""
    notes = []
    if "unvaried" in feedback_scores or "unoriginal" in feedback_scores:
        variation = min(1.0, variation + 0.5)
        notes.append("batch too uniform or too close to real images: more variation")
    if "unrealistic" in feedback_scores or "unrepresentative" in feedback_scores:
        realism = min(1.0, realism + 0.5)
        notes.append("batch unlike the field images: render closer to field conditions")
    return variation, realism, notes
