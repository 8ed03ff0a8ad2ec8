"""ClipRequestChecker on a tiny random CLIP built from a config (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.backends.tiny_models import build_tiny_clip
from tools.generator.check import CheckItem
from tools.generator.clip_check import ClipRequestChecker


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-clip")
    build_tiny_clip(folder)
    return folder


def _images(folder: Path, n: int) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        path = folder / f"{k}.png"
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_each_image_is_scored_against_its_own_prompt(clip: Path, tmp_path: Path) -> None:
    import torch
    from transformers import CLIPModel, CLIPProcessor

    paths = _images(tmp_path, 5)
    prompts = ["a car at night", "a person in fog", "a sign", "two cars in rain", "a street"]
    # Batches of two: the pairing must survive chunking.
    scores = ClipRequestChecker(str(clip), 0.0, batch_size=2).similarities(paths, prompts)
    model, processor = CLIPModel.from_pretrained(clip), CLIPProcessor.from_pretrained(clip)
    inputs = processor(
        text=prompts,
        images=[Image.open(p).convert("RGB") for p in paths],
        return_tensors="pt",
        padding=True,
    )
    with torch.no_grad():
        per_pair = model(**inputs).logits_per_image / model.logit_scale.exp()
    assert np.allclose(scores, per_pair.diagonal().numpy(), atol=1e-5)
    assert len(set(np.round(scores, 6))) == 5  # different pairs, different agreement


def test_images_under_the_threshold_are_not_as_asked(clip: Path, tmp_path: Path) -> None:
    paths = _images(tmp_path, 4)
    items = [CheckItem(p, f"a photo of a car {k}", {}, None, 48) for k, p in enumerate(paths)]  # type: ignore[arg-type]
    scores = ClipRequestChecker(str(clip), 0.0).similarities(paths, [i.prompt for i in items])
    bar = float(np.median(scores))
    checker = ClipRequestChecker(str(clip), bar)
    checks = checker.check(items)
    assert checker.drops
    assert [c.as_asked for c in checks] == [s >= bar for s in scores]
    assert all(c.unmet == ([] if c.as_asked else ["prompt"]) for c in checks)
    assert 0 < sum(c.as_asked for c in checks) < len(checks)
