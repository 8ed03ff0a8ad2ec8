"""The work behind each loop step (queries, model calls, files), so that graph nodes stay thin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from agent.deps import Deps
from agent.planner import plan_requests, untargeted_requests
from agent.setup import predict_and_evaluate
from agent.state import Decision, LoopState
from evaluation.gate import GateResult, ModelScorecard, gate
from evaluation.quality import (
    QualityScores,
    detection_label_quality,
    image_fingerprint,
    score_batch,
)
from evaluation.slices import (
    FailureSlice,
    ObjectTable,
    assign_bins,
    bin_edges,
    build_object_table,
    cluster_missed,
    discover_slices,
    match_found,
    slice_mask,
)
from storage.datasets import LabeledImage
from storage.export import ExportItem, export_yolo
from tools.analyst.base import FailureAnalysis, SliceEvidence
from tools.analyst.evidence import crop_object, draw_scene
from tools.convert import class_ids, make_detections
from tools.generator.base import EditSource, GeneratedImage, GenerationRequest
from tools.generator.retrieval import nearest_pool_images, pool_entries
from tools.labeler.truth import check_labels


def pred_field(model: str) -> str:
    return f"pred_{model}"


def weights_of(deps: Deps, model: str) -> Path:
    record = deps.registry.model(model)
    if record is None:
        raise KeyError(f"model {model} is not in the registry")
    return Path(record.path)


def ensure_val_predictions(deps: Deps, model: str) -> None:
    """Predictions and evaluation of `model` on val exist (the baseline and the gate make them)."""
    if pred_field(model) not in deps.datasets.field_names(prefix="pred_"):
        predict_and_evaluate(deps, model, weights_of(deps, model), ("val",))


def val_object_table(deps: Deps, model: str) -> ObjectTable:
    view = deps.datasets.split("val")
    samples = deps.datasets.samples(view)
    return build_object_table(
        [s[0] for s in samples],
        [str(s[1]) for s in samples],
        [max(s[2], s[3]) for s in samples],
        deps.datasets.labels(view),
        deps.datasets.labels(view, pred_field(model)),
        deps.settings.classes,
        deps.settings.evaluation.conf_threshold,
    )


def slice_recalls(
    table: ObjectTable, edges: dict[str, list[float]], slices: dict[str, dict[str, str]]
) -> dict[str, float]:
    bins = assign_bins(table, edges)
    recalls = {}
    for name, conditions in slices.items():
        mask = slice_mask(bins, conditions)
        if mask.any():
            recalls[name] = float(table.found[mask].mean())
    return recalls


def single_slices(table: ObjectTable, edges: dict[str, list[float]]) -> dict[str, dict[str, str]]:
    """Every single-attribute bin (and class): the slices the gate guards against regressions."""
    bins = assign_bins(table, edges)
    return {f"{a}={v}": {a: str(v)} for a in bins for v in np.unique(bins[a])}


# -- discover ------------------------------------------------------------------------------------
def discover(
    deps: Deps, state: LoopState
) -> tuple[list[FailureSlice], dict[str, list[float]], list[dict[str, Any]]]:
    """Top failure slices of the incumbent on val; failures are marked in FiftyOne for the App."""
    settings = deps.settings.loop
    ensure_val_predictions(deps, state.incumbent)
    table = val_object_table(deps, state.incumbent)
    edges = bin_edges(table)
    slices = discover_slices(table, edges, settings.top_slices, settings.min_support)
    view = deps.datasets.split("val")
    samples = deps.datasets.samples(view)
    ids = [s[0] for s in samples]
    misses = np.array([int(np.sum(~table.found[np.array(table.sample_ids) == i])) for i in ids])
    embeddings = embed_cached(deps, state.incumbent, "val", [s[1] for s in samples])
    clusters = cluster_missed(embeddings, ids, misses, seed=deps.settings.detector.seed)
    bins = assign_bins(table, edges)
    marks: dict[str, list[str]] = {i: [] for i in ids}
    for failure in slices:
        for k in np.where(slice_mask(bins, failure.conditions) & ~table.found)[0]:
            if failure.name not in marks[table.sample_ids[k]]:
                marks[table.sample_ids[k]].append(failure.name)
    field = f"failures_c{state.cycle}"
    deps.datasets.set_sample_values(ids, field, [marks[i] for i in ids])
    marked = deps.datasets.where_in(view, "id", [i for i in ids if marks[i]])
    deps.datasets.save_view(f"cycle {state.cycle} failures", marked)
    return slices, edges, clusters


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
    out = deps.workspace.cycle_dir(state.cycle) / "evidence" / _safe(failure.name)
    scenes: list[str] = []
    crops: list[str] = []
    for (sample_id, path, _, _), truth, predicted in zip(samples, truths, predictions, strict=True):
        confident = (
            np.ones(len(predicted), bool)
            if predicted.confidence is None
            else predicted.confidence >= conf
        )
        shown = make_detections(predicted.xyxy[confident], class_ids(predicted)[confident])
        scenes.append(
            str(draw_scene(path, truth, shown, deps.settings.classes, out / f"{sample_id}.png"))
        )
        missed = ~match_found(truth, predicted, conf)
        for k in np.where(missed)[0]:
            if len(crops) < settings.evidence_crops:
                crops.append(
                    str(crop_object(path, truth.xyxy[k], out / f"{sample_id}_miss{k}.png"))
                )
    return scenes + crops


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "=-_" else "_" for c in name)


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
                overall_stats=overall,
                example_ids=failure.example_ids,
                example_paths=evidence_images(deps, state, failure),
            )
        )
    analysis = deps.analyst.analyze(evidence, list(deps.settings.classes))
    for hypothesis in analysis.hypotheses:
        if hypothesis.evidence_ids:
            deps.datasets.set_sample_values(
                hypothesis.evidence_ids,
                f"analysis_c{state.cycle}",
                [f"{hypothesis.what_fails}: {hypothesis.why}"] * len(hypothesis.evidence_ids),
            )
    return analysis


# -- plan ----------------------------------------------------------------------------------------
def batch_id_for(state: LoopState) -> str:
    return f"{state.loop_id}-c{state.cycle}-r{state.revision}"


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
            sources.append(EditSource(samples[i][0], str(samples[i][1]), boxes))
    return sources


def plan(deps: Deps, state: LoopState) -> list[GenerationRequest]:
    """This cycle's requests under the loop's strategy (the agent's, or a benchmark baseline's)."""
    assert state.analysis is not None
    remaining = max(0, state.budget - state.spent)
    images = min(deps.settings.loop.batch_size, remaining)
    seed = deps.settings.detector.seed * 1000 + state.cycle * 10 + state.revision
    strategy = deps.settings.loop.strategy
    if strategy == "none":
        return []
    if strategy == "untargeted":
        return untargeted_requests(images, deps.settings.classes, seed, batch_id_for(state))
    if strategy == "retrieval":
        return retrieval_requests(deps, state, images)
    return plan_requests(
        state.analysis,
        state.slices,
        images,
        deps.settings.classes,
        seed,
        batch_id_for(state),
        deps.settings.loop.min_slice_share,
        deps.settings.loop.edit_share,
        edit_sources(deps, seed),
        state.variation,
        state.realism,
    )


def retrieval_requests(deps: Deps, state: LoopState, images: int) -> list[GenerationRequest]:
    """The pool images nearest (detector embeddings) to the val images with target-slice misses."""
    pool_dir = deps.settings.backends.retrieval_pool
    if pool_dir is None:
        raise RuntimeError("The retrieval strategy needs backends.retrieval_pool.")
    entries = pool_entries(pool_dir)
    pool = embed_cached(deps, state.incumbent, "pool", [Path(e["path"]) for e in entries])
    view = deps.datasets.split("val")
    samples = deps.datasets.samples(view)
    val = embed_cached(deps, state.incumbent, "val", [s[1] for s in samples])
    failing = {i for f in state.slices for i in f.example_ids}
    marks = deps.datasets.values(view, f"failures_c{state.cycle}")
    failing |= {s[0] for s, m in zip(samples, marks, strict=True) if m}
    rows = [k for k, s in enumerate(samples) if s[0] in failing]
    used_paths = set(
        deps.datasets.values(deps.datasets.synthetic(), "source_path")
        if "source_path" in deps.datasets.field_names(synthetic=True)
        else []
    )
    used = {k for k, e in enumerate(entries) if e["path"] in used_paths}
    chosen = nearest_pool_images(pool, val[rows], images, used)
    batch_id = batch_id_for(state)
    return [
        GenerationRequest(
            id=f"{batch_id}-{n:04d}",
            slice_name="retrieval",
            prompt="nearest real image from the pool",
            conditions={},
            seed=0,
            mode="retrieve",
            source_path=entries[k]["path"],
        )
        for n, k in enumerate(chosen)
    ]


# -- generate and label --------------------------------------------------------------------------
def generate(deps: Deps, state: LoopState, batch_id: str) -> dict[str, Any]:
    """Render the batch into its own folder and write a manifest; failures are counted, not fatal."""
    out_dir = deps.workspace.synthetic_images_dir(batch_id)
    size = deps.settings.detector.imgsz
    images, failed = deps.generator.generate(state.requests, out_dir, size)
    manifest = out_dir / "manifest.json"
    manifest.write_text(
        json.dumps({"images": [i.model_dump(mode="json") for i in images], "failed": failed})
    )
    for request_id, reason in failed.items():
        deps.registry.log(
            "image_failed",
            state.loop_id,
            state.cycle,
            "generate_images",
            request=request_id,
            reason=reason,
        )
    return {"manifest": str(manifest), "generated": len(images), "failed": len(failed)}


def label(deps: Deps, state: LoopState, batch_id: str, manifest: Path) -> dict[str, int]:
    """Label the batch and add it to the synthetic dataset as 'proposed' (replacing a partial add)."""
    content = json.loads(manifest.read_text())
    images = [GeneratedImage.model_validate(i) for i in content["images"]]
    requests = {r.id: r for r in state.requests}
    labels = deps.labeler.label(images, deps.settings.classes)
    deps.datasets.delete_samples(deps.datasets.batch(batch_id))  # a killed run may have added some
    records, dropped_boxes, unlabelled = [], 0, 0
    for image, detections in zip(images, labels, strict=True):
        if detections is None:
            unlabelled += 1
            deps.registry.log(
                "image_failed",
                state.loop_id,
                state.cycle,
                "label_images",
                request=image.request_id,
                reason="labeler returned nothing",
            )
            continue
        detections, dropped = check_labels(detections, image.width, image.height)
        dropped_boxes += dropped
        request = requests[image.request_id]
        records.append(
            LabeledImage(
                image.path,
                detections,
                image.width,
                image.height,
                attributes={
                    "batch_id": batch_id,
                    "loop_id": state.loop_id,
                    "cycle": state.cycle,
                    "status": "proposed",
                    "prompt": request.prompt,
                    "target_slice": request.slice_name,
                    "generator": deps.generator.name,
                    "labeler": deps.labeler.name,
                    "seed": request.seed,
                    "mode": request.mode,
                    "source_sample_id": request.source_sample_id,
                    "source_path": request.source_path,
                    **{f"scene_{k}": v for k, v in request.conditions.items()},
                },
            )
        )
    ids = deps.datasets.add_images(records, synthetic=True)
    flagged = label_qa(deps, state, ids, records)
    carried_dropped = sum(image.carried_dropped for image in images)
    return {
        "labelled": len(records),
        "dropped_boxes": dropped_boxes + carried_dropped,
        "unlabelled": unlabelled,
        "label_flagged": flagged,
        "carried_dropped": carried_dropped,
    }


def label_qa(deps: Deps, state: LoopState, ids: list[str], records: list[LabeledImage]) -> int:
    """Auto-labels (not scene truth) are scored against the incumbent; poor ones are flagged."""
    if deps.labeler.name == "truth" or not records:
        return 0
    predictions = deps.detector.predict(
        weights_of(deps, state.incumbent), [r.path for r in records]
    )
    scores = detection_label_quality(
        [r.detections for r in records], predictions, len(deps.settings.classes)
    )
    deps.datasets.set_sample_values(
        ids, "label_quality", [float(s) for s in scores], synthetic=True
    )
    flagged = [
        i for i, s in zip(ids, scores, strict=True) if s < deps.settings.labeler.qa_threshold
    ]
    if flagged:
        deps.datasets.tag(flagged, "needs_review", synthetic=True)
    return len(flagged)


# -- score ---------------------------------------------------------------------------------------
def score(deps: Deps, state: LoopState, batch_id: str) -> dict[str, Any]:
    """Quality scores of the batch against real training images; filters mark what is kept."""
    settings = deps.settings
    view = deps.datasets.batch(batch_id)
    samples = deps.datasets.samples(view)
    if not samples:  # the `none` strategy, or a batch where every image failed
        empty = QualityScores(unrealistic=0, unrepresentative=0, unvaried=0, unoriginal=0)
        return {"scores": empty, "groups": {}, "kept": 0, "dropped": {}, "over": {}}
    labels = deps.datasets.labels(view)
    targets = deps.datasets.values(view, "target_slice")
    real_view = deps.datasets.split("train")
    real_paths = [s[1] for s in deps.datasets.samples(real_view)]
    rng = np.random.default_rng(settings.detector.seed)
    real_paths = [
        real_paths[i] for i in sorted(rng.permutation(len(real_paths))[: settings.loop.real_sample])
    ]
    real = embed_cached(deps, state.incumbent, "train_sample", real_paths)
    synthetic = deps.detector.embed(weights_of(deps, state.incumbent), [s[1] for s in samples])
    groups: dict[str, list[int]] = {}
    for index, (detections, target) in enumerate(zip(labels, targets, strict=True)):
        groups.setdefault(f"slice:{target}", []).append(index)
        for class_id in set(class_ids(detections).tolist()):
            groups.setdefault(f"class:{settings.classes[class_id]}", []).append(index)
    result = score_batch(
        real,
        synthetic,
        settings.quality.duplicate_distance,
        groups,
        settings.quality.drop_unrealistic,
        settings.detector.seed,
        real_fingerprints=np.stack([image_fingerprint(p) for p in real_paths]),
        synthetic_fingerprints=np.stack([image_fingerprint(s[1]) for s in samples]),
    )
    kept = set(result.keep)
    ids = [s[0] for s in samples]
    deps.datasets.set_sample_values(ids, "realism", result.realism, synthetic=True)
    deps.datasets.set_sample_values(
        ids,
        "status",
        ["proposed" if i in kept else "filtered" for i in range(len(ids))],
        synthetic=True,
    )
    deps.datasets.save_view(
        f"batch {batch_id}", deps.datasets.where(view, "status", "proposed"), synthetic=True
    )
    return {
        "scores": result.scores,
        "groups": result.groups,
        "kept": len(kept),
        "dropped": {
            "duplicates": result.dropped_duplicates,
            "unoriginal": result.dropped_unoriginal,
            "unrealistic": result.dropped_unrealistic,
        },
        "over": result.scores.worst_over(settings.quality.thresholds()),
    }


def approval_payload(state: LoopState) -> dict[str, Any]:
    assert state.batch is not None
    return {
        "batch_id": state.batch.batch_id,
        "loop_id": state.loop_id,
        "cycle": state.cycle,
        "revision": state.revision,
        "label_flagged": state.batch.label_flagged,
        "images": state.batch.kept,
        "generated": state.batch.generated,
        "scores": state.batch.scores.model_dump() if state.batch.scores else None,
        "over_threshold": state.batch.over_threshold,
        "prompts": sorted({r.prompt for r in state.requests})[:20],
        "target_slices": [s.name for s in state.slices],
        "fiftyone_view": f"batch {state.batch.batch_id}",
        "how_to_decide": f"failforge approve {state.batch.batch_id} | "
        f"failforge reject {state.batch.batch_id} --reason TEXT",
    }


def apply_decision(deps: Deps, state: LoopState, decision: Decision) -> int:
    """Record the decision (first one wins) and set sample statuses; returns images approved."""
    assert state.batch is not None
    batch_id = state.batch.batch_id
    view = deps.datasets.where(deps.datasets.batch(batch_id), "status", "proposed")
    samples = deps.datasets.samples(view)
    tags = deps.datasets.tags(view)
    approved_ids = [
        s[0] for s, t in zip(samples, tags, strict=True) if decision.approved and "reject" not in t
    ]
    rejected_ids = [s[0] for s in samples if s[0] not in set(approved_ids)]
    # First decision wins: the CLI or the API usually recorded it before resuming the loop.
    deps.registry.decide_batch(
        batch_id, "approved" if decision.approved else "rejected", decision.by, decision.reason
    )
    deps.registry.update_batch_images(batch_id, len(approved_ids))
    if approved_ids:
        deps.datasets.set_sample_values(
            approved_ids, "status", ["approved"] * len(approved_ids), synthetic=True
        )
    if rejected_ids:
        deps.datasets.set_sample_values(
            rejected_ids, "status", ["rejected"] * len(rejected_ids), synthetic=True
        )
    return len(approved_ids)


# -- retrain and gate ----------------------------------------------------------------------------
def synthetic_share(deps: Deps, cycle: int) -> float:
    loop = deps.settings.loop
    return min(
        loop.synthetic_share_cap,
        loop.synthetic_share_start + loop.synthetic_share_step * (cycle - 1),
    )


def retrain(deps: Deps, state: LoopState, candidate: str) -> dict[str, Any]:
    """Fine-tune the incumbent on field `train` plus approved synthetic images (share capped)."""
    field_items = _items(deps, deps.datasets.split("train"), synthetic=False)
    approved = deps.datasets.where(deps.datasets.synthetic(), "status", "approved")
    synthetic_items = _items(deps, approved, synthetic=True)
    share = synthetic_share(deps, state.cycle)
    limit = int(share / (1 - share) * len(field_items))
    if len(synthetic_items) > limit:
        # Newest batches first: they target this cycle's failures.
        synthetic_items = synthetic_items[-limit:]
    data_yaml = export_yolo(
        deps.workspace.cycle_dir(state.cycle) / "data",
        deps.settings.classes,
        {"train": field_items + synthetic_items, "val": _items(deps, deps.datasets.split("val"))},
    )
    result = deps.detector.train(
        data_yaml,
        deps.workspace.model_dir(candidate) / "train",
        weights_of(deps, state.incumbent),
        deps.settings.detector.finetune_epochs,
    )
    weights = deps.workspace.model_dir(candidate) / "weights.pt"
    shutil.copy2(result.weights, weights)
    deps.registry.add_model(candidate, weights, state.incumbent, "candidate", {}, state.cycle)
    return {
        "weights": str(weights),
        "seconds": result.seconds,
        "field": len(field_items),
        "synthetic": len(synthetic_items),
        "share": share,
    }


def _items(deps: Deps, view: Any, synthetic: bool = False) -> list[ExportItem]:
    samples = deps.datasets.samples(view)
    labels = deps.datasets.labels(view)
    return [ExportItem(p, w, h, d) for (_, p, w, h), d in zip(samples, labels, strict=True)]


def scorecard(
    deps: Deps, model: str, edges: dict[str, list[float]], slices: dict[str, dict[str, str]]
) -> tuple[ModelScorecard, ObjectTable]:
    record = deps.registry.model(model)
    assert record is not None
    table = val_object_table(deps, model)
    map50 = record.metrics.get("val", {}).get("overall", {}).get("map50") or 0.0
    return ModelScorecard(map50=map50, slice_recall=slice_recalls(table, edges, slices)), table


def gate_candidate(deps: Deps, state: LoopState, candidate: str) -> GateResult:
    """Evaluate the candidate on val and promote it only if the gate says so."""
    record = deps.registry.model(candidate)
    assert record is not None
    metrics = predict_and_evaluate(deps, candidate, Path(record.path), ("val",))
    deps.registry.set_model_status(candidate, "candidate", metrics=metrics)
    targets = {s.name: s.conditions for s in state.slices}
    table = val_object_table(deps, state.incumbent)
    guarded = single_slices(table, state.bin_edges)
    incumbent_card, _ = scorecard(deps, state.incumbent, state.bin_edges, {**targets, **guarded})
    candidate_card, _ = scorecard(deps, candidate, state.bin_edges, {**targets, **guarded})
    settings = deps.settings.gate
    result = gate(
        incumbent_card,
        candidate_card,
        list(targets),
        settings.min_gain,
        settings.max_map_drop,
        settings.max_slice_drop,
        {k: v for k, v in incumbent_card.slice_recall.items() if k in guarded},
    )
    if result.promote:
        deps.registry.promote(candidate, "; ".join(result.reasons))
    else:
        deps.registry.set_model_status(candidate, "rejected", "; ".join(result.reasons))
    return result
