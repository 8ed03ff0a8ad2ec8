"""detector.model as a user's own .pt: the baseline trains from its weights, each known class
keeping its channels by name; a missing file is one sentence."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from agent.entry.cli import app
from storage.export import ExportItem, export_yolo
from tools.convert import make_detections

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
runner = CliRunner()


def _user_weights(path: Path, names: dict[int, str]) -> Path:
    """A YOLOv8n of len(names) classes with random weights, saved as ultralytics saves one."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=len(names), verbose=False)
    model.names = names
    torch.save({"model": model, "train_args": {}}, path)
    return path


def _yolo_folder(root: Path) -> Path:
    """A dozen 64 px images, each with one square of class 0 or 1 (no data.yaml)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 10), ("val", 4), ("test", 4)):
        for k in range(count):
            pixels = rng.integers(0, 60, (64, 64, 3), dtype=np.uint8)
            x, y = rng.integers(4, 36, 2)
            pixels[y : y + 24, x : x + 24] = (220, 40, 40) if k % 2 else (40, 40, 220)
            image = root / "images" / split / f"{k}.png"
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(image)
            label = root / "labels" / split / f"{k}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(f"{k % 2} {(x + 12) / 64} {(y + 12) / 64} 0.375 0.375\n")
    return root


def _weights(path: Path) -> dict[str, np.ndarray]:
    from ultralytics import YOLO

    model = YOLO(str(path)).model
    return {k: v.detach().float().numpy() for k, v in model.state_dict().items()}


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.reshape(-1), b.reshape(-1))[0, 1])


def test_training_starts_from_the_users_weights_with_classes_matched_by_name(
    tmp_path: Path,
) -> None:
    from tools.detector.ultralytics_detector import UltralyticsDetector

    # The user's weights know two of the workspace's three classes, in the other order.
    own = _user_weights(tmp_path / "mine.pt", {0: "b", 1: "a"})
    data = _yolo_folder(tmp_path / "data")
    items = [
        ExportItem(p, 64, 64, make_detections(np.array([[4, 4, 28, 28]]), np.array([0])))
        for p in sorted((data / "images" / "train").glob("*.png"))
    ]
    classes = ["a", "b", "c"]
    data_yaml = export_yolo(tmp_path / "export", classes, {"train": items, "val": items})
    detector = UltralyticsDetector(classes, model=str(own), imgsz=64, batch=4, nominal_batch=4)
    result = detector.train(data_yaml, tmp_path / "run", None, 1)

    before, after = _weights(own), _weights(result.weights)
    stem = "model.0.conv.weight"
    # One epoch moves the weights a little: the trained stem is the user's, not a new one.
    assert _correlation(before[stem], after[stem]) > 0.9
    head = "model.22.cv3.0.2.weight"  # the class layer of the finest scale: one row per class
    assert after[head].shape[0] == 3
    assert _correlation(before[head][1], after[head][0]) > 0.9  # 'a' kept its own channel
    assert _correlation(before[head][0], after[head][1]) > 0.9  # and so did 'b'
    assert abs(_correlation(before[head][0], after[head][2])) < 0.5  # 'c' is new
    from ultralytics import YOLO

    assert YOLO(str(result.weights)).model.names == {0: "a", 1: "b", 2: "c"}


def test_baseline_from_a_pt_beside_the_settings_and_one_sentence_when_it_is_missing(
    tmp_path: Path,
) -> None:
    data = _yolo_folder(tmp_path / "data")
    ws = tmp_path / "ws"
    result = runner.invoke(
        app, ["init", str(ws), "--import", str(data), "--format", "yolo", "--classes", "a,b"]
    )
    assert result.exit_code == 0, result.output
    settings = yaml.safe_load((ws / "failforge.yaml").read_text())
    settings["detector"] = {**settings["detector"], "model": "weights/missing.pt", "batch": 4}
    (ws / "failforge.yaml").write_text(yaml.safe_dump(settings))

    result = runner.invoke(app, ["baseline", "-w", str(ws), "--epochs", "1"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: detector.model {ws / 'weights' / 'missing.pt'} does not exist; point it at "
        "your own .pt weights (relative to the workspace, or absolute) or at a model yaml "
        "such as yolov8n.yaml."
    )

    (ws / "weights").mkdir()
    _user_weights(ws / "weights" / "missing.pt", {0: "a", 1: "b"})
    result = runner.invoke(app, ["baseline", "-w", str(ws), "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "incumbent v1 on test" in result.output
