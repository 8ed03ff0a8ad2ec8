"""Asking a model analyst safely: parse, retry once with the error, else fall back to the offline analyst."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PIL import Image

from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions, SliceEvidence
from tools.analyst.offline import OfflineAnalyst
from tools.analyst.parsing import AnswerError, Region, SliceAnswer, parse_answer, rescale_box

log = logging.getLogger(__name__)

# (evidence, correction or None) -> (model text, (width, height) of the first image as the model saw it)
Ask = Callable[[SliceEvidence, str | None], tuple[str, tuple[int, int] | None]]


def to_hypothesis(
    evidence: SliceEvidence, answer: SliceAnswer, input_wh: tuple[int, int] | None
) -> Hypothesis:
    regions: list[Region] = []
    if answer.regions and evidence.example_paths and input_wh:
        with Image.open(evidence.example_paths[0]) as image:
            original = image.size
        regions = [
            Region(bbox_2d=rescale_box(r.bbox_2d, input_wh, original), label=r.label)
            for r in answer.regions
        ]
    return Hypothesis(
        slice_name=evidence.slice_name,
        what_fails=answer.what_fails,
        why=answer.why,
        # A user's photographs have no scene: only measured attributes may aim their images.
        conditions=answer.conditions if evidence.vocabulary == "scene" else SceneConditions(),
        attributes=answer.attributes if evidence.vocabulary == "attributes" else {},
        classes=answer.classes,
        evidence_ids=evidence.example_ids,
        confidence=answer.confidence,
        suggested_prompts=answer.suggested_prompts,
        regions=[r.model_dump() for r in regions],
    )


def analyze_robustly(
    name: str,
    slices: list[SliceEvidence],
    classes: list[str],
    ask: Ask,
) -> FailureAnalysis:
    """One hypothesis per slice; a model that errs twice, or cannot be reached, never stops the loop.

    A slice the model could not answer gets the offline analyst's hypothesis with the model's
    error as its `fallback`; the analyze step records those as events (one place, every analyst).
    """
    offline = OfflineAnalyst()
    hypotheses = []
    for evidence in slices:
        correction: str | None = None
        hypothesis = None
        for _attempt in range(2):
            try:
                text, input_wh = ask(evidence, correction)
            except Exception as error:  # transport errors after the client's own retries
                correction = None
                reason = f"{type(error).__name__}: {error}"
                log.warning("analyst %s unreachable for %s: %s", name, evidence.slice_name, reason)
                break
            try:
                hypothesis = to_hypothesis(evidence, parse_answer(text, classes), input_wh)
                break
            except AnswerError as error:
                correction = reason = str(error)
        if hypothesis is None:
            # Labelled as what it is: the offline answer, with the model's error beside it.
            hypothesis = offline.explain(evidence).model_copy(update={"fallback": reason})
        hypotheses.append(hypothesis)
    fallbacks = sum(h.fallback is not None for h in hypotheses)
    label = f"{name} (offline for {fallbacks} of {len(hypotheses)} slices)" if fallbacks else name
    return FailureAnalysis(analyst=label, hypotheses=hypotheses)
