"""Making a batch: plan the requests, generate, label, score, and apply the decision on it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from agent.ports import Budget, Deps
from agent.results import Generation, Labelling, Scoring
from agent.state import ApprovalRequest, Decision, LoopState
from agent.steps.camera import field_camera
from agent.steps.failures import embed_cached, weights_of
from agent.steps.planning import edit_sources
from evaluation.quality import (
    QualityScores,
    detection_label_quality,
    image_fingerprint,
    score_batch_quality,
)
from storage.datasets import LabeledImage, WorkspaceDatasets
from storage.refs import SampleRef
from tools.convert import class_ids
from tools.generator.base import GeneratedImage, GenerationRequest
from tools.generator.check import CheckItem, RequestCheck
from tools.generator.instance_bank import write_instance_bank
from tools.labeler.base import LabelFailure
from tools.labeler.truth import check_labels


# -- plan ----------------------------------------------------------------------------------------
def batch_id_for(state: LoopState) -> str:
    return f"{state.loop_id}-c{state.cycle}-r{state.revision}"


def plan(deps: Deps, state: LoopState) -> list[GenerationRequest]:
    """This cycle's requests from the workspace's planner (the agent's, or a benchmark arm's)."""
    remaining = max(0, state.budget - state.spent)
    budget = Budget(
        images=min(deps.settings.loop.batch_size, remaining),
        batch_id=batch_id_for(state),
        seed=deps.settings.detector.seed * 1000 + state.cycle * 10 + state.revision,
    )
    requests = deps.planner.plan(deps, state, budget)
    # Every arm renders through the same camera: the realism floor from Settings, raised by
    # revisions; the camera itself is estimated from the field images.
    realism = max(state.realism, deps.settings.generator.realism)
    # A paste is made of the field's own photographs: their camera is already in them.
    if realism > 0 and requests and any(r.mode != "paste" for r in requests):
        camera = field_camera(deps)
        requests = [
            r.model_copy(update={"realism": max(r.realism, realism), "camera": camera})
            for r in requests
        ]
    return requests


# -- generate and label --------------------------------------------------------------------------
def ensure_instance_bank(deps: Deps) -> Path:
    """The paste generator's bank of objects, from every labelled train image (never val or test),
    written once per workspace: the train split does not change after `init`."""
    path = deps.workspace.instance_bank_file
    if not path.is_file():
        sources = edit_sources(deps, 0, count=len(deps.datasets.split("train")))
        write_instance_bank(path, sources)
    return path


def generate(deps: Deps, state: LoopState, batch_id: str) -> Generation:
    """Render the batch into its own folder and write a manifest; failures are counted, not fatal."""
    out_dir = deps.workspace.synthetic_images_dir(batch_id)
    size = deps.settings.detector.imgsz
    if any(r.mode == "paste" for r in state.requests):
        ensure_instance_bank(deps)
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
    return Generation(manifest=str(manifest), generated=len(images), failed=len(failed))


def label(deps: Deps, state: LoopState, batch_id: str, manifest: Path) -> Labelling:
    """Label the batch and add it to the synthetic dataset as 'proposed' (replacing a partial add)."""
    content = json.loads(manifest.read_text())
    images = [GeneratedImage.model_validate(i) for i in content["images"]]
    requests = {r.id: r for r in state.requests}
    labels = deps.labeler.label(images, deps.settings.classes)
    deps.datasets.delete_samples(deps.datasets.batch(batch_id))  # a killed run may have added some
    records, dropped_boxes, errors = [], 0, Counter[str]()
    for image, detections in zip(images, labels, strict=True):
        if isinstance(detections, LabelFailure):
            # The labeller's own reason (missing weights, out of memory), for the log and the App.
            errors[detections.reason] += 1
            deps.registry.log(
                "image_failed",
                state.loop_id,
                state.cycle,
                "label_images",
                request=image.request_id,
                reason=f"labeller {deps.labeler.name}: {detections.reason}",
            )
            continue
        detections, dropped = check_labels(detections, image.width, image.height)
        dropped_boxes += dropped
        request = requests[image.request_id]
        records.append(_proposed_image(deps, state, batch_id, image, detections, request))
    ids = deps.datasets.add_images(records, synthetic=True)
    flagged = label_qa(deps, state, ids, records)
    carried_dropped = sum(image.carried_dropped for image in images)
    return Labelling(
        labelled=len(records),
        dropped_boxes=dropped_boxes + carried_dropped,
        unlabelled=sum(errors.values()),
        label_errors=dict(errors.most_common()),
        label_flagged=flagged,
        carried_dropped=carried_dropped,
    )


def _proposed_image(
    deps: Deps,
    state: LoopState,
    batch_id: str,
    image: GeneratedImage,
    detections: sv.Detections,
    request: GenerationRequest,
) -> LabeledImage:
    """A labelled image as the synthetic dataset keeps it: 'proposed', with what it was asked."""
    return LabeledImage(
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
            # What a paste aimed at, readable in the App beside the measured values.
            **{
                f"target_{k}": f"{low:.3g}-{high:.3g}" for k, (low, high) in request.targets.items()
            },
        },
    )


def label_qa(deps: Deps, state: LoopState, ids: list[str], records: list[LabeledImage]) -> int:
    """Auto-labels (not scene truth) are scored against the incumbent; poor ones are flagged."""
    if deps.labeler.exact or not records:
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
# The real-vs-synthetic classifier needs two images to cross-validate; fewer are not scored.
MIN_SCORED = 2


def real_sample_paths(deps: Deps) -> list[Path]:
    """The field `train` images a batch is scored against: `loop.real_sample` of them, by seed."""
    paths = [s.path for s in deps.datasets.samples(deps.datasets.split("train"))]
    rng = np.random.default_rng(deps.settings.detector.seed)
    return [paths[i] for i in sorted(rng.permutation(len(paths))[: deps.settings.loop.real_sample])]


def score(deps: Deps, state: LoopState, batch_id: str) -> Scoring:
    """Quality scores of the batch against real training images; filters mark what is kept."""
    settings = deps.settings
    view = deps.datasets.batch(batch_id)
    samples = deps.datasets.samples(view)
    if len(samples) < MIN_SCORED:
        return _unscored(deps, state, batch_id, view, samples)
    labels = deps.datasets.labels(view)
    targets = deps.datasets.values(view, "target_slice")
    real_paths = real_sample_paths(deps)
    real = embed_cached(deps, state.incumbent, "train_sample", real_paths)
    synthetic = deps.detector.embed(weights_of(deps, state.incumbent), [s.path for s in samples])
    groups = _score_groups(labels, targets, settings.classes)
    result = score_batch_quality(
        real,
        synthetic,
        settings.quality.duplicate_distance,
        groups,
        settings.quality.drop_unrealistic,
        settings.detector.seed,
        real_fingerprints=np.stack([image_fingerprint(p) for p in real_paths]),
        synthetic_fingerprints=np.stack([image_fingerprint(s.path) for s in samples]),
    )
    checks = check_requests(deps, state, samples, labels)
    # Only checked images speak for or against the plan: one whose request is unknown, or asked
    # nothing, is neither made as asked nor not (and never dropped for it).
    checked = [c for c in checks if c.checked]
    not_as_asked = {i for i, c in enumerate(checks) if c.checked and not c.as_asked}
    kept = set(result.keep)
    dropped = {
        "duplicates": result.dropped_duplicates,
        "unoriginal": result.dropped_unoriginal,
        "unrealistic": result.dropped_unrealistic,
    }
    if deps.request_checker.drops:
        dropped["not_as_asked"] = len(kept & not_as_asked)
        kept -= not_as_asked
    _mark_images(deps, batch_id, view, [s.id for s in samples], result.realism, checks, kept)
    return Scoring(
        scores=result.scores,
        groups=result.groups,
        kept=len(kept),
        dropped=dropped,
        over=result.scores.worst_over(settings.quality.thresholds()),
        as_asked=1 - len(not_as_asked) / len(checked) if checked else None,
        unmet=dict(sorted(Counter(k for c in checks for k in c.unmet).items())),
    )


def _unscored(
    deps: Deps, state: LoopState, batch_id: str, view: Any, samples: list[SampleRef]
) -> Scoring:
    """A batch too small to score: no scores rather than the best ones (nothing here may pass
    for a clean batch), and why."""
    if samples:
        deps.datasets.save_view(WorkspaceDatasets.batch_view(batch_id), view, synthetic=True)
    empty = QualityScores(unrealistic=0, unrepresentative=0, unvaried=0, unoriginal=0)
    if not state.requests:
        why = "no images: none were planned"
    elif not samples:
        why = f"no images: all {len(state.requests)} requests failed to generate or label"
    else:
        why = f"1 image: too few to score (at least {MIN_SCORED})"
    return Scoring(scores=empty, kept=len(samples), unscored=why)


def _score_groups(
    labels: list[Any], targets: list[Any], classes: list[str]
) -> dict[str, list[int]]:
    """The images of each target slice (`slice:<name>`) and of each class they show
    (`class:<name>`), the groups whose scores are reported apart."""
    groups: dict[str, list[int]] = {}
    for index, (detections, target) in enumerate(zip(labels, targets, strict=True)):
        groups.setdefault(f"slice:{target}", []).append(index)
        for class_id in set(class_ids(detections).tolist()):
            groups.setdefault(f"class:{classes[class_id]}", []).append(index)
    return groups


def _mark_images(
    deps: Deps,
    batch_id: str,
    view: Any,
    ids: list[str],
    realism: list[float],
    checks: list[RequestCheck],
    kept: set[int],
) -> None:
    """Write each scored image's realism, request check and status (proposed or filtered), and
    save the batch's view of its proposed images."""
    deps.datasets.set_sample_values(ids, "realism", realism, synthetic=True)
    deps.datasets.set_sample_values(
        ids, "as_asked", [c.as_asked if c.checked else None for c in checks], synthetic=True
    )
    deps.datasets.set_sample_values(
        ids, "request_agreement", [c.score for c in checks], synthetic=True
    )
    deps.datasets.set_sample_values(
        ids,
        "status",
        ["proposed" if i in kept else "filtered" for i in range(len(ids))],
        synthetic=True,
    )
    deps.datasets.save_view(
        WorkspaceDatasets.batch_view(batch_id),
        deps.datasets.where(view, "status", "proposed"),
        synthetic=True,
    )


def check_requests(
    deps: Deps, state: LoopState, samples: list[SampleRef], labels: list[Any]
) -> list[RequestCheck]:
    """Each labelled image against the request it was made for (read back from its pixels and
    boxes, or CLIP for prompted images): were the conditions the plan aimed at delivered?"""
    assert state.batch is not None
    made = json.loads(Path(state.batch.manifest).read_text())["images"]
    request_of = {str(Path(i["path"]).resolve()): i["request_id"] for i in made}
    requests = {r.id: r for r in state.requests}
    items, matched = [], []
    for k, (sample, detections) in enumerate(zip(samples, labels, strict=True)):
        request = requests.get(request_of.get(str(sample.path.resolve()), ""))
        if request is None:  # not in the manifest, or its request gone: nothing to check against
            continue
        matched.append(k)
        items.append(
            CheckItem(
                str(sample.path),
                request.prompt,
                dict(request.conditions),
                detections,
                sample.longest_side,
                dict(request.targets),
            )
        )
    checks = [RequestCheck(score=0.0, as_asked=False, checked=False) for _ in samples]
    for k, check in zip(matched, deps.request_checker.check(items), strict=True):
        checks[k] = check
    return checks


def approval_payload(state: LoopState) -> ApprovalRequest:
    assert state.batch is not None
    batch = state.batch
    return ApprovalRequest(
        batch_id=batch.batch_id,
        loop_id=state.loop_id,
        cycle=state.cycle,
        revision=state.revision,
        label_flagged=batch.label_flagged,
        label_errors=batch.label_errors,
        images=batch.kept,
        generated=batch.generated,
        scores=batch.scores,
        over_threshold=batch.over_threshold,
        unscored=batch.unscored,
        as_asked=batch.as_asked,
        not_as_asked=batch.unmet,
        prompts=sorted({r.prompt for r in state.requests})[:20],
        target_slices=[s.name for s in state.slices],
        earlier_outcomes=state.earlier_outcomes(),
        fiftyone_view=WorkspaceDatasets.batch_view(batch.batch_id),
        how_to_decide=f"failforge approve {batch.batch_id} | "
        f"failforge reject {batch.batch_id} --reason TEXT",
        hypothesis_checks=state.counterfactuals.lines() if state.counterfactuals else [],
    )


def apply_decision(deps: Deps, state: LoopState, decision: Decision) -> int:
    """Record the decision (first one wins) and set sample statuses; returns images approved."""
    assert state.batch is not None
    batch_id = state.batch.batch_id
    # Every sample the scores kept, whatever its status: a decision applied by a process that was
    # killed halfway is applied again in full, to the same samples, with the same count.
    view = deps.datasets.where_in(
        deps.datasets.batch(batch_id), "status", ["proposed", "approved", "rejected"]
    )
    samples = deps.datasets.samples(view)
    tags = deps.datasets.tags(view)
    approved_ids = [
        s.id for s, t in zip(samples, tags, strict=True) if decision.approved and "reject" not in t
    ]
    rejected_ids = [s.id for s in samples if s.id not in set(approved_ids)]
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
