"""`failforge status` and the report show recall per class and on the slices discovery found, for an
imported workspace (which had one row, "overall") as for the demo world."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from agent.entry.cli import app

# The demo-world test trains the session's shared baseline (60 epochs) when it runs first.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
runner = CliRunner()


def _squares(root: Path) -> Path:
    """64 px images of red (a) and blue (b) squares from 3 to 24 px: the smallest are missed."""
    rng = np.random.default_rng(1)
    for split, count in (("train", 40), ("val", 20), ("test", 20)):
        for k in range(count):
            pixels = rng.integers(0, 50, (64, 64, 3), dtype=np.uint8)
            lines = []
            for j, side in enumerate(rng.choice([3, 12, 18, 24], 2)):
                x, y = rng.integers(0, 64 - side, 2)
                pixels[y : y + side, x : x + side] = (230, 30, 30) if j % 2 else (30, 30, 230)
                lines.append(
                    f"{j % 2} {(x + side / 2) / 64} {(y + side / 2) / 64} {side / 64} {side / 64}"
                )
            image = root / "images" / split / f"{k}.png"
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(image)
            label = root / "labels" / split / f"{k}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text("names: [a, b]\n")
    return root


def _status(ws: Path, split: str = "test") -> dict:
    result = runner.invoke(app, ["status", "-w", str(ws), "--split", split, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _pooled_recall(rows: dict) -> float:
    objects = sum(m["objects"] for m in rows.values())
    return sum(m["recall"] * m["objects"] for m in rows.values()) / objects


def test_an_imported_workspace_shows_classes_and_found_slices(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws), "--import", str(_squares(tmp_path / "data"))])
    assert result.exit_code == 0, result.output
    settings = yaml.safe_load((ws / "failforge.yaml").read_text())
    settings["detector"] = {**settings["detector"], "batch": 8, "nominal_batch": 8}
    settings["loop"] = {"min_support": 4}
    (ws / "failforge.yaml").write_text(yaml.safe_dump(settings))
    result = runner.invoke(app, ["baseline", "-w", str(ws), "--epochs", "20"])
    assert result.exit_code == 0, result.output

    status = _status(ws)
    assert status["slices"] == {}  # no world: no truth slices
    assert list(status["classes"]) == ["class=a", "class=b"]
    overall = status["metrics"]
    assert sum(m["objects"] for m in status["classes"].values()) == overall["objects"] == 40
    # Per-class recall is the evaluation's own: pooled over classes it is the overall recall.
    assert _pooled_recall(status["classes"]) == pytest.approx(overall["recall"])
    for name, row in status["classes"].items():
        assert row["map50"] == overall["ap50_per_class"][name.removeprefix("class=")]
    found = status["found_slices"]
    assert found, "discovery found no slice on val"
    assert all(m["objects"] > 0 for m in found.values())
    # The three-pixel squares are never found: a bin of the smallest boxes is among the failures.
    assert any(c.startswith("box_size=low") for name in found for c in name.split(" & "))
    val = _status(ws, "val")
    assert list(val["found_slices"]) == list(found)  # the same slices, measured where found
    assert all(m["recall"] < val["metrics"]["recall"] for m in val["found_slices"].values())

    table = runner.invoke(app, ["status", "-w", str(ws)])
    assert "class=a" in table.output and "class=b" in table.output

    result = runner.invoke(app, ["report", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    report = (ws / "reports" / "report.md").read_text()
    for name in ["class=a", "class=b", *found]:
        assert f"| {name} |" in report


def test_the_demo_world_shows_classes_beside_its_world_slices(trained_workspace: Path) -> None:
    status = _status(trained_workspace)
    assert list(status["classes"]) == ["class=car", "class=person", "class=sign"]
    assert _pooled_recall(status["classes"]) == pytest.approx(status["metrics"]["recall"])
    assert "lighting=day" in status["slices"]  # the world's truth rows stay
    val = _status(trained_workspace, "val")
    # On val the found slices are measured where they were found: recall below the overall.
    assert val["found_slices"]
    assert all(m["recall"] < val["metrics"]["recall"] for m in val["found_slices"].values())
