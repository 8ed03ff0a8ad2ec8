"""Integration: a user's own photographs (a YOLO folder of real photographs) through a full cycle.

The photographs are scikit-image's sample images (real camera pictures that ship with the
package), cut into tiles; the "objects" are two kinds of marks drawn on them (round blobs and
small squares), labelled exactly. The loop must find its failures in measured attributes,
explain them without a word of street, paste the train split's own objects, train and gate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from agent.entry.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
runner = CliRunner()
STREET_WORDS = ("street", "road", "pedestrian", "traffic", "fog", "night", "snow", "rain")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _photographs() -> list[np.ndarray]:
    from skimage import data

    pictures = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    tiles = []
    for picture in pictures:
        h, w = picture.shape[:2]
        for y in range(0, h - 96, 96):
            for x in range(0, w - 128, 128):
                tiles.append(np.ascontiguousarray(picture[y : y + 96, x : x + 128, :3]))
    return tiles


def _dataset(root: Path) -> Path:
    """A YOLO folder: 96 x 128 tiles with 1-4 blobs (class 0) and 0-3 small squares (class 1)."""
    rng = np.random.default_rng(0)
    tiles = _photographs()
    splits = {"train": 40, "val": 16, "test": 16}
    index = 0
    for split, count in splits.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for _ in range(count):
            image = Image.fromarray(tiles[index % len(tiles)])
            index += 1
            draw = ImageDraw.Draw(image)
            lines = []
            for cls, n in ((0, rng.integers(1, 5)), (1, rng.integers(0, 4))):
                for _ in range(int(n)):
                    side = int(rng.integers(14, 26)) if cls == 0 else int(rng.integers(5, 9))
                    x0, y0 = int(rng.integers(0, 128 - side)), int(rng.integers(0, 96 - side))
                    box = (x0, y0, x0 + side - 1, y0 + side - 1)
                    if cls == 0:
                        draw.ellipse(box, fill=(230, 40, 200), outline=(20, 20, 20))
                    else:
                        draw.rectangle(box, fill=(20, 230, 230))
                    cx, cy = (x0 + side / 2) / 128, (y0 + side / 2) / 96
                    lines.append(f"{cls} {cx:.5f} {cy:.5f} {side / 128:.5f} {side / 96:.5f}")
            image.save(root / "images" / split / f"{split}{index:03d}.png")
            (root / "labels" / split / f"{split}{index:03d}.txt").write_text("\n".join(lines))
    (root / "data.yaml").write_text("names: {0: blob, 1: speck}\n")
    return root


def test_a_loop_on_photographs_pastes_their_own_objects_and_speaks_their_attributes(
    tmp_path: Path,
) -> None:
    data = _dataset(tmp_path / "data")
    ws = str(tmp_path / "ws")
    result = runner.invoke(app, ["init", ws, "--import", str(data), "--format", "yolo"])
    assert result.exit_code == 0, result.output
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAILFORGE_DETECTOR__BATCH", "4")
        # 16 val images hold about 60 objects: slices of a few objects must count.
        patch.setenv("FAILFORGE_LOOP__MIN_SUPPORT", "4")
        result = runner.invoke(app, ["baseline", "-w", ws, "--epochs", "30"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(
            app,
            ["run", "-w", ws, "--cycles", "1", "--budget", "12", "--auto-approve"],
        )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output

    from agent.bootstrap import build_deps
    from agent.settings import Settings

    deps = build_deps(Settings.load(Path(ws)))
    assert deps.generator.name == "paste"
    approved = [b for b in deps.registry.batches() if b.status == "approved"]
    assert len(approved) == 1, result.output
    view = deps.datasets.batch(approved[0].id)
    prompts = view.values("prompt")
    assert len(prompts) >= 10
    assert all(p.startswith("paste") for p in prompts)
    assert not any(w in _words(p) for p in prompts for w in STREET_WORDS)
    # Every pasted image was made from a train image, never val or test.
    train = set(deps.datasets.values(deps.datasets.split("train"), "filepath"))
    sources = {s for s in view.values("source_path") if s}
    assert sources and sources <= train
    # The analysis is in measured attributes and the user's classes.
    events = [e for e in deps.registry.events() if e.kind == "analysis"]
    hypotheses = events[-1].payload["hypotheses"]
    assert hypotheses and all(not any(h["conditions"].values()) for h in hypotheses)
    text = json.dumps(hypotheses)
    assert not any(w in _words(text) for w in STREET_WORDS), text
    assert deps.registry.model("v2") is not None  # the candidate trained on the pasted batch
