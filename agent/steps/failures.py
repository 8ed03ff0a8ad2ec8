"""Finding and explaining failures: val predictions, object tables, slices, evidence, analysis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from agent.ports import Deps
from agent.results import Discovery
from agent.state import LoopState
from agent.steps.predictions import predict_and_evaluate
from evaluation.blind_spots import blind_spots
from evaluation.slices import (
    IMAGE_ATTRIBUTES,
    OBJECT_ATTRIBUTES,
    FailureSlice,
    ObjectTable,
    assign_bins,
    bin_edges,
    build_object_table,
    discover_slices,
    image_statistics,
    match_found,
    slice_mask,
)
from storage.datasets import WorkspaceDatasets
from storage.importers import IMAGE_SUFFIXES
from tools.analyst.base import FailureAnalysis, SliceEvidence
from tools.analyst.evidence import crop_object, draw_scene
from tools.convert import class_ids, make_detections


def pred_field(model: str) -> str:
    return WorkspaceDatasets.prediction_field(model)


def weights_of(deps: Deps, model: str) -> Path:
    record = deps.registry.model(model)
    if record is None:
        raise KeyError(f"model {model} is not in the registry")
    return Path(record.path)


def ensure_val_predictions(deps: Deps, model: str) -> None:
    """Predictions and evaluation of `model` on val exist (the baseline and the gate make them)."""
    if pred_field(model) not in deps.datasets.field_names(
        prefix=WorkspaceDatasets.PREDICTION_PREFIX
    ):
        predict_and_evaluate(deps, model, weights_of(deps, model), ("val",))


def val_object_table(deps: Deps, model: str, split: str = "val") -> ObjectTable:
    """One row per ground-truth object of `split` (val unless a report asks for test)."""
    view = deps.datasets.split(split)
    samples = deps.datasets.samples(view)
    return build_object_table(
        [s.id for s in samples],
        [str(s.path) for s in samples],
        [s.longest_side for s in samples],
        deps.datasets.labels(view),
        deps.datasets.labels(view, pred_field(model)),
        deps.settings.classes,
        deps.settings.evaluation.conf_threshold,
    )


# -- discover ------------------------------------------------------------------------------------
def discover(deps: Deps, state: LoopState) -> Discovery:
    """Top failure slices of the incumbent on val; failures are marked in FiftyOne for the App."""
    settings = deps.settings.loop
    ensure_val_predictions(deps, state.incumbent)
    table = val_object_table(deps, state.incumbent)
    edges = bin_edges(table)
    deployment = deployment_attributes(deps) if settings.deploy_images else None
    slices = discover_slices(
        table,
        edges,
        settings.top_slices,
        settings.min_support,
        shrinkage=settings.slice_shrinkage,
        adjust_for=OBJECT_ATTRIBUTES if settings.slice_deficit == "beyond_size" else (),
        deployment=deployment,
        explore=settings.explore_slices,
        explore_support=settings.explore_support,
        optimism=settings.slice_optimism,
    )
    blind = blind_spots(table, edges, deployment, settings.min_support) if deployment else []
    view = deps.datasets.split("val")
    samples = deps.datasets.samples(view)
    ids = [s.id for s in samples]
    # No embeddings or clusters of missed images here: nothing read them (measured: one val
    # embedding per new incumbent and a KMeans each cycle, then thrown away).
    bins = assign_bins(table, edges)
    # Each slice's objects, read by the App's failure view (misses) and its scenario (all).
    masks = {failure.name: slice_mask(bins, failure.conditions) for failure in slices}
    marks: dict[str, list[str]] = {i: [] for i in ids}
    for failure in slices:
        for k in np.where(masks[failure.name] & ~table.found)[0]:
            if failure.name not in marks[table.sample_ids[k]]:
                marks[table.sample_ids[k]].append(failure.name)
    field = f"failures_c{state.cycle}"
    deps.datasets.set_sample_values(ids, field, [marks[i] for i in ids])
    marked = deps.datasets.where_in(view, "id", [i for i in ids if marks[i]])
    deps.datasets.save_view(f"cycle {state.cycle} failures", marked)
    _slices_as_scenario(deps, state.cycle, view, ids, table.sample_ids, masks)
    return Discovery(slices=slices, edges=edges, blind_spots=blind)


def _slices_as_scenario(
    deps: Deps,
    cycle: int,
    view: Any,
    ids: list[str],
    object_samples: list[str],
    masks: dict[str, np.ndarray],
) -> None:
    """Each val object carries the cycle's slices it falls in (`slices_c<cycle>`), and the
    App's Model Evaluation panel gets the cycle's slices as a scenario: any evaluation's
    precision, recall and confusion per slice, side by side (v1 against v2, say).
    `object_samples` and `masks` are per object, in the object table's order."""
    names: list[list[str]] = [[] for _ in object_samples]
    for name, mask in masks.items():
        for k in np.where(mask)[0]:
            names[k].append(name)
    per_sample: dict[str, list[list[str]]] = {i: [] for i in ids}
    for sample_id, objects in zip(object_samples, names, strict=True):
        per_sample[sample_id].append(objects)
    attribute = f"slices_c{cycle}"
    deps.datasets.mark_objects(view, attribute, [per_sample[i] for i in ids])
    deps.datasets.set_evaluation_scenario(f"failforge cycle {cycle} slices", attribute, list(masks))


def deployment_attributes(deps: Deps) -> dict[str, np.ndarray]:
    """Image attributes of the unlabelled deployment images (`loop.deploy_images`)."""
    stats = [image_statistics(str(p)) for p in deployment_paths(deps)]
    return {name: np.array([s[name] for s in stats]) for name in IMAGE_ATTRIBUTES}


def deployment_paths(deps: Deps) -> list[Path]:
    """The unlabelled deployment images (`loop.deploy_images`), sorted; none is an error."""
    folder = deps.settings.loop.deploy_images
    assert folder is not None
    if not folder.is_absolute():
        folder = deps.settings.workspace / folder
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(
            f"loop.deploy_images points at {folder}, which holds no images "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}); "
            "point it at a folder of images from where the detector is deployed, or unset it."
        )
    return paths


def predictions_cached(deps: Deps, model: str, name: str, paths: list[Path]) -> list[sv.Detections]:
    """`model`'s predictions on images outside the datasets (e.g. the deployment images), cached
    per model and image set in the model's folder (images never change)."""
    cache = deps.workspace.model_dir(model) / f"predictions_{name}.json"
    key = [str(p) for p in paths]
    if cache.is_file():
        stored = json.loads(cache.read_text())
        if stored["paths"] == key:
            return [_detections(d) for d in stored["detections"]]
    predicted = deps.detector.predict(weights_of(deps, model), paths)
    cache.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "xyxy": d.xyxy.tolist(),
            "class_id": [] if d.class_id is None else d.class_id.tolist(),
            "confidence": None if d.confidence is None else d.confidence.tolist(),
        }
        for d in predicted
    ]
    cache.write_text(json.dumps({"paths": key, "detections": rows}))
    return predicted


def _detections(row: dict[str, Any]) -> sv.Detections:
    xyxy = np.asarray(row["xyxy"], dtype=float).reshape(-1, 4)
    confidence = row["confidence"]
    return sv.Detections(
        xyxy=xyxy,
        class_id=np.asarray(row["class_id"], dtype=int),
        confidence=None if confidence is None else np.asarray(confidence, dtype=float),
    )


def embed_cached(deps: Deps, model: str, name: str, paths: list[Path]) -> np.ndarray:
    """Backbone embeddings of images, cached per model and image set (images never change)."""
    cache = deps.workspace.model_dir(model) / f"embeddings_{name}.npz"
    key = np.array([str(p) for p in paths])
    if cache.is_file():
        stored = np.load(cache)
        if stored["paths"].shape == key.shape and (stored["paths"] == key).all():
            return np.asarray(stored["vectors"])
    vectors = deps.detector.embed(weights_of(deps, model), paths)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=key, vectors=vectors)
    return vectors


# -- analyze -------------------------------------------------------------------------------------
def evidence_images(deps: Deps, state: LoopState, failure: FailureSlice) -> list[str]:
    """Scenes with truth and predictions drawn, then crops of missed objects, for one slice."""
    settings = deps.settings.analyst
    ids = failure.example_ids[: settings.evidence_images]
    if not ids:
        return []
    view = deps.datasets.select(ids)
    samples = deps.datasets.samples(view)
    truths = deps.datasets.labels(view)
    predictions = deps.datasets.labels(view, pred_field(state.incumbent))
    conf = deps.settings.evaluation.conf_threshold
    out = deps.workspace.evidence_dir(state.cycle, failure.name)
    scenes: list[str] = []
    crops: list[str] = []
    for sample, truth, predicted in zip(samples, truths, predictions, strict=True):
        confident = (
            np.ones(len(predicted), bool)
            if predicted.confidence is None
            else predicted.confidence >= conf
        )
        shown = make_detections(predicted.xyxy[confident], class_ids(predicted)[confident])
        scenes.append(
            str(
                draw_scene(
                    sample.path, truth, shown, deps.settings.classes, out / f"{sample.id}.png"
                )
            )
        )
        missed = ~match_found(truth, predicted, conf)
        for k in np.where(missed)[0]:
            if len(crops) < settings.evidence_crops:
                crops.append(
                    str(crop_object(sample.path, truth.xyxy[k], out / f"{sample.id}_miss{k}.png"))
                )
    return scenes + crops


def earlier_check(state: LoopState, slice_name: str) -> str | None:
    """The last finished cycle's counterfactual verdict on `slice_name`, as 'cycle 2: supported'."""
    for record in reversed(state.history):
        if slice_name in record.checked:
            return f"cycle {record.cycle}: {record.checked[slice_name]}"
    return None


def analyze(deps: Deps, state: LoopState) -> FailureAnalysis:
    """The analyst's hypotheses per slice; analyses are written on the evidence samples."""
    evidence = []
    overall = {
        k: float(np.mean([s.stats.get(k, 0.0) for s in state.slices]))
        for k in (state.slices[0].stats if state.slices else {})
    }
    for failure in state.slices:
        evidence.append(
            SliceEvidence(
                slice_name=failure.name,
                conditions=failure.conditions,
                support=failure.support,
                recall=failure.recall,
                deficit=failure.deficit,
                stats=failure.stats,
                # Over every val object, as discovery measured it (older slices lack it).
                overall_stats=failure.overall_stats or overall,
                example_ids=failure.example_ids,
                example_paths=evidence_images(deps, state, failure),
                vocabulary=deps.settings.vocabulary(),
                earlier_check=earlier_check(state, failure.name),
            )
        )
    analysis = deps.analyst.analyze(evidence, list(deps.settings.classes))
    analysis = analysis.model_copy(update={"evidence": evidence})
    for hypothesis in analysis.hypotheses:
        if hypothesis.fallback is not None:
            deps.registry.log(
                "analyst_fallback",
                state.loop_id,
                state.cycle,
                "analyze_failures",
                analyst=analysis.analyst,
                slice=hypothesis.slice_name,
                reason=hypothesis.fallback,
            )
    for hypothesis in analysis.hypotheses:
        if hypothesis.evidence_ids:
            deps.datasets.set_sample_values(
                hypothesis.evidence_ids,
                f"analysis_c{state.cycle}",
                [f"{hypothesis.what_fails}: {hypothesis.why}"] * len(hypothesis.evidence_ids),
            )
    return analysis
