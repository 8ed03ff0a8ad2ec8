"""Integration: `failforge init --import` of a user's YOLO folder into real FiftyOne, bad files reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from agent.entry.cli import app

pytestmark = pytest.mark.slow


def test_init_imports_good_images_and_reports_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for split, count in (("train", 3), ("val", 2)):
        for i in range(count):
            image = data / "images" / split / f"{i}.png"
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(image)
            label = data / "labels" / split / f"{i}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("0 0.5 0.5 0.25 0.25\n")
    (data / "labels" / "val" / "1.txt").write_text("9 0.5 0.5 0.25 0.25\n")
    # A grayscale JPEG stored 32 x 24 and shown rotated (EXIF orientation 6): 24 x 32.
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = Image.fromarray(np.full((24, 32), 90, np.uint8))
    rotated.save(data / "images" / "train" / "rotated.jpg", exif=exif)
    (data / "labels" / "train" / "rotated.txt").write_text("0 0.25 0.5 0.3 0.2\n")
    (data / "data.yaml").write_text("names: {0: car, 1: person}\n")
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["init", str(ws), "--import", str(data), "--format", "yolo"])
    assert result.exit_code == 0, result.output
    assert "class index 9 is outside 0..1" in result.output

    from agent.bootstrap import build_deps
    from agent.settings import Settings

    settings = Settings.load(ws)
    assert settings.classes == ["car", "person"] and settings.world is None
    deps = build_deps(settings)
    assert (deps.datasets.count("train"), deps.datasets.count("val")) == (4, 1)
    paths = deps.datasets.values(deps.datasets.split("train"), "filepath")
    assert all(Path(p).is_relative_to(ws) for p in paths)  # copied into the workspace
    # The rotated grayscale image is stored upright, in RGB, as its label describes it.
    (stored,) = [Path(p) for p in paths if "rotated" in p]
    with Image.open(stored) as image:
        assert image.mode == "RGB" and image.size == (24, 32)
    assert deps.datasets.field_names(prefix="world_") == []
