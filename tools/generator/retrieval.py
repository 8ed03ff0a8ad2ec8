"""PoolRetriever: serves requests with real images from an unlabelled pool (the retrieval baseline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from tools.generator.base import GeneratedImage, GenerationRequest
from tools.world.config import WorldConfig
from tools.world.field import render_field
from tools.world.scene import CLASSES

POOL_MANIFEST = "pool.json"


def build_pool(config: WorldConfig, out_dir: Path, count: int) -> Path:
    """Render `count` extra field images (field priors, field camera) with truth, as a perfect
    annotator would label them; returns the pool's manifest."""
    entries = []
    for item in render_field(config, out_dir, "pool", count=count):
        truth = item.path.with_suffix(".truth.json")
        truth.write_text(
            json.dumps(
                {"boxes": item.boxes.tolist(), "classes": [CLASSES[int(c)] for c in item.class_ids]}
            )
        )
        entries.append({"path": str(item.path), "truth": str(truth)})
    manifest = out_dir / POOL_MANIFEST
    manifest.write_text(json.dumps(entries))
    return manifest


def pool_entries(pool_dir: Path) -> list[dict[str, str]]:
    return list(json.loads((pool_dir / POOL_MANIFEST).read_text()))


def nearest_pool_images(
    pool: np.ndarray, targets: np.ndarray, count: int, exclude: set[int]
) -> list[int]:
    """Indices of the `count` pool rows closest (cosine) to any target row, skipping `exclude`."""
    if len(targets) == 0 or count <= 0:
        return []
    p = pool / np.maximum(np.linalg.norm(pool, axis=1, keepdims=True), 1e-12)
    t = targets / np.maximum(np.linalg.norm(targets, axis=1, keepdims=True), 1e-12)
    distance = (1 - p @ t.T).min(axis=1)
    order = [int(i) for i in np.argsort(distance) if int(i) not in exclude]
    return order[:count]


class PoolRetriever:
    """'Generates' by copying the requested pool image and its truth into the batch folder."""

    name = "retrieval"

    def generate(
        self, requests: list[GenerationRequest], out_dir: Path, size: int
    ) -> tuple[list[GeneratedImage], dict[str, str]]:
        out_dir.mkdir(parents=True, exist_ok=True)
        made, failed = [], {}
        for request in requests:
            if request.mode != "retrieve" or not request.source_path:
                failed[request.id] = "retrieval serves only 'retrieve' requests"
                continue
            source = Path(request.source_path)
            truth = source.with_suffix(".truth.json")
            if not source.is_file() or not truth.is_file():
                failed[request.id] = f"pool image {source} or its truth is missing"
                continue
            target = out_dir / f"{request.id}{source.suffix}"
            shutil.copy2(source, target)
            target_truth = out_dir / f"{request.id}.truth.json"
            shutil.copy2(truth, target_truth)
            made.append(
                GeneratedImage(
                    request_id=request.id,
                    path=target,
                    width=size,
                    height=size,
                    truth_path=target_truth,
                )
            )
        return made, failed
