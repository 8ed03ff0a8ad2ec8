"""Synthetic-data quality: the four batch scores and the per-image filters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

READINGS = {
    "unrealistic": "how easily a classifier tells the synthetic images from real ones",
    "unrepresentative": "how much of the real data the synthetic images fail to resemble",
    "unvaried": "share of synthetic images that are near copies of each other",
    "unoriginal": "share of synthetic images that are near copies of real images",
}


class QualityScores(BaseModel):
    """The four scores, each in [0, 1]; higher is worse."""

    unrealistic: float = Field(ge=0, le=1)
    unrepresentative: float = Field(ge=0, le=1)
    unvaried: float = Field(ge=0, le=1)
    unoriginal: float = Field(ge=0, le=1)

    def worst_over(self, thresholds: Mapping[str, float]) -> dict[str, float]:
        """Scores above their threshold: {name: score}."""
        return {
            name: value
            for name, value in self.model_dump().items()
            if value > thresholds.get(name, 1.0)
        }


class QualityResult(BaseModel):
    """Batch scores, the same per group (class, target slice), and which images the filters keep."""

    scores: QualityScores
    groups: dict[str, QualityScores] = Field(default_factory=dict)
    keep: list[int] = Field(description="indices of synthetic images kept by the filters")
    dropped_duplicates: int = 0
    dropped_unoriginal: int = 0
    dropped_unrealistic: int = 0
    realism: list[float] = Field(
        default_factory=list, description="per synthetic image: P(synthetic)"
    )


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def label_quality(real: np.ndarray, synthetic: np.ndarray, seed: int = 0) -> np.ndarray:
    """Out-of-sample label-quality scores (cleanlab self-confidence) of a real-vs-synthetic classifier.

    Returns one score per row of `concat(real, synthetic)`: the cross-validated probability the
    classifier gives to each image's true origin.
    """
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.vstack([_normalise(real), _normalise(synthetic)])
    labels = np.r_[np.zeros(len(real), dtype=int), np.ones(len(synthetic), dtype=int)]
    folds = int(min(5, np.bincount(labels).min()))
    if folds < 2:
        return np.full(len(labels), 0.5)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    probabilities = cross_val_predict(
        classifier,
        features,
        labels,
        method="predict_proba",
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
    )
    return np.asarray(get_label_quality_scores(labels, probabilities, method="self_confidence"))


def near_duplicate_groups(embeddings: np.ndarray, threshold: float) -> np.ndarray:
    """Group id per row: rows closer than `threshold` (cosine distance) share a group (transitively)."""
    x = _normalise(embeddings)
    n = len(x)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    distances = 1 - x @ x.T
    rows, cols = np.where(np.triu(distances < threshold, k=1))
    for i, j in zip(rows, cols, strict=True):
        parent[find(int(i))] = find(int(j))
    return np.array([find(i) for i in range(n)])


def _scores(
    quality: np.ndarray, is_synthetic: np.ndarray, groups: np.ndarray, members: np.ndarray
) -> QualityScores:
    """Scores over the synthetic images in `members` (a boolean mask over all rows)."""
    synthetic = members & is_synthetic
    real = ~is_synthetic
    group_has_real = {g: bool(real[groups == g].any()) for g in np.unique(groups)}
    group_size = {g: int((groups == g).sum()) for g in np.unique(groups)}
    duplicated = np.array([group_size[g] > 1 for g in groups])
    with_real = np.array([group_has_real[g] for g in groups])
    count = max(int(synthetic.sum()), 1)
    return QualityScores(
        # Cleanlab's definition: 1 - mean label-issue score = mean label quality of the images.
        unrealistic=float(quality[synthetic].mean()) if synthetic.any() else 0.0,
        unrepresentative=float(quality[real].mean()) if real.any() else 0.0,
        unvaried=float((synthetic & duplicated & ~with_real).sum() / count),
        unoriginal=float((synthetic & duplicated & with_real).sum() / count),
    )


def image_fingerprint(path: str | Path, side: int = 24) -> np.ndarray:
    """A small grey thumbnail, centred and normalised: near copies of an image land next to it.

    Measured on the demo world: the detector's pooled backbone features put blurred JPEG copies
    of an image farther apart (median cosine distance 0.048) than distinct images (0.008), so
    they cannot find copies; these thumbnails put copies under 0.002 and distinct images above
    0.004 (median 0.29).
    """
    from PIL import Image

    with Image.open(path) as image:
        grey = image.convert("L").resize((side, side), Image.Resampling.BILINEAR)
    pixels = np.asarray(grey, dtype=np.float64).ravel()
    pixels -= pixels.mean()
    return pixels / max(float(np.linalg.norm(pixels)), 1e-9)


def score_batch_quality(
    real: np.ndarray,
    synthetic: np.ndarray,
    duplicate_threshold: float,
    groups: Mapping[str, Sequence[int]] | None = None,
    drop_unrealistic: float = 0.1,
    seed: int = 0,
    real_fingerprints: np.ndarray | None = None,
    synthetic_fingerprints: np.ndarray | None = None,
) -> QualityResult:
    """Score a synthetic batch against real images and choose the images the filters keep.

    `real`/`synthetic` are features for the real-vs-synthetic classifier (the detector's
    embeddings); near copies are found on the fingerprints when given, else on the features.
    Filters: from each group of near-duplicate synthetic images one is kept; synthetic copies of
    real images are dropped; then the `drop_unrealistic` share most recognisably synthetic go.
    """
    quality = label_quality(real, synthetic, seed)
    is_synthetic = np.r_[np.zeros(len(real), bool), np.ones(len(synthetic), bool)]
    if real_fingerprints is not None and synthetic_fingerprints is not None:
        copies = np.vstack([real_fingerprints, synthetic_fingerprints])
    else:
        copies = np.vstack([real, synthetic])
    duplicate_groups = near_duplicate_groups(copies, duplicate_threshold)
    everything = np.ones(len(is_synthetic), dtype=bool)
    result_groups = {}
    for name, indices in (groups or {}).items():
        members = np.zeros(len(is_synthetic), dtype=bool)
        members[len(real) + np.asarray(list(indices), dtype=int)] = True
        members |= ~is_synthetic
        if (members & is_synthetic).any():
            result_groups[name] = _scores(quality, is_synthetic, duplicate_groups, members)

    keep, dropped_duplicates, dropped_unoriginal = _originals(duplicate_groups, len(real))
    realism = quality[len(real) :]
    cut = int(np.floor(drop_unrealistic * len(keep)))
    dropped_unrealistic = 0
    if cut > 0:
        worst = set(sorted(keep, key=lambda i: realism[i], reverse=True)[:cut])
        keep = [i for i in keep if i not in worst]
        dropped_unrealistic = len(worst)
    return QualityResult(
        scores=_scores(quality, is_synthetic, duplicate_groups, everything),
        groups=result_groups,
        keep=keep,
        dropped_duplicates=dropped_duplicates,
        dropped_unoriginal=dropped_unoriginal,
        dropped_unrealistic=dropped_unrealistic,
        realism=[float(r) for r in realism],
    )


def _originals(duplicate_groups: np.ndarray, n_real: int) -> tuple[list[int], int, int]:
    """The synthetic images kept by the copy filters (the first of each near-duplicate group,
    none of a group holding a real image), and how many each filter dropped."""
    synthetic_groups = duplicate_groups[n_real:]
    real_groups = set(duplicate_groups[:n_real].tolist())
    keep, seen = [], set()
    dropped_duplicates = dropped_unoriginal = 0
    for index, group in enumerate(synthetic_groups.tolist()):
        if group in real_groups:
            dropped_unoriginal += 1
        elif group in seen:
            dropped_duplicates += 1
        else:
            seen.add(group)
            keep.append(index)
    return keep, dropped_duplicates, dropped_unoriginal


def detection_label_quality(
    labels: Sequence[Any], predictions: Sequence[Any], num_classes: int
) -> np.ndarray:
    """cleanlab's object-detection label quality of each image's auto-labels, judged against a
    detector's predictions (supervision Detections both); low scores deserve a person's look."""
    from cleanlab.object_detection.rank import get_label_quality_scores

    from tools.convert import class_ids

    given = [
        {"bboxes": np.asarray(d.xyxy, dtype=np.float32), "labels": class_ids(d)} for d in labels
    ]
    predicted = []
    for p in predictions:
        confidence = np.ones(len(p)) if p.confidence is None else np.asarray(p.confidence)
        ids = class_ids(p)
        predicted.append(
            np.array(
                [
                    np.hstack([p.xyxy[ids == c], confidence[ids == c, None]])
                    .astype(np.float32)
                    .reshape(-1, 5)
                    for c in range(num_classes)
                ],
                dtype=object,
            )
        )
    return np.asarray(get_label_quality_scores(given, predicted), dtype=float)
