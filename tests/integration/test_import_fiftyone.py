"""Integration: `failforge init --fiftyone NAME` reads a user's own FiftyOne database (not the
workspace's): images, one Detections field, train/val/test tags; bad samples reported."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.entry.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]

# Run in a process of its own (this one talks to the test session's database): makes the user's
# database and datasets, says "ready", and keeps the database up until its stdin closes.
MAKE_USER_DATABASE = """
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from storage.database import connect

root = Path(sys.argv[1])
connect(root / "userdb")
import fiftyone as fo


def box(label, x, y, w=0.25, h=0.25):
    return fo.Detection(label=label, bounding_box=[x, y, w, h])


photos = fo.Dataset("photos", persistent=True)
photos.default_classes = ["cell", "blob", "unused"]
samples = []
for k, (tags, labels) in enumerate([
    (["train"], [box("cell", 0.1, 0.2), box("blob", 0.5, 0.5)]),
    (["train", "reviewed"], [box("cell", 0.0, 0.0)]),
    (["train"], [box("blob", 0.3, 0.3)]),
    (["val"], [box("cell", 0.6, 0.1)]),
    (["test"], [box("blob", 0.2, 0.6)]),
    ([], [box("cell", 0.4, 0.4)]),
    (["train", "val"], [box("cell", 0.1, 0.1)]),
    (["test"], []),
    (["val"], [box("cell", 0.9, 0.9, 0.3, 0.3)]),
]):
    path = root / "images" / f"{k}.png"
    path.parent.mkdir(exist_ok=True)
    Image.fromarray(np.full((40, 80, 3), 30 * k, np.uint8)).save(path)
    sample = fo.Sample(filepath=str(path), tags=tags)
    sample["boxes"] = fo.Detections(detections=labels)
    samples.append(sample)
gone = fo.Sample(filepath=str(root / "images" / "gone.png"), tags=["train"])
gone["boxes"] = fo.Detections(detections=[box("cell", 0.1, 0.1)])
photos.add_samples([*samples, gone])

two = fo.Dataset("two_fields", persistent=True)
sample = fo.Sample(filepath=str(root / "images" / "0.png"), tags=["train"])
sample["ground_truth"] = fo.Detections(detections=[box("cell", 0.1, 0.2)])
sample["predictions"] = fo.Detections(detections=[box("cell", 0.1, 0.2)])
other = fo.Sample(filepath=str(root / "images" / "2.png"), tags=["val"])
other["ground_truth"] = fo.Detections(detections=[box("blob", 0.3, 0.3)])
two.add_samples([sample, other])
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def user_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("user")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIFTYONE_")}
    env["PYTHONPATH"] = str(ROOT)
    maker = subprocess.Popen(
        [sys.executable, "-c", MAKE_USER_DATABASE, str(root)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert maker.stdout is not None and maker.stdin is not None
    assert maker.stdout.readline().strip() == "ready"
    yield root
    maker.stdin.close()
    maker.wait(timeout=60)


@pytest.fixture
def as_the_user(user_database: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's environment: FiftyOne's own variable names their database."""
    monkeypatch.setenv("FIFTYONE_DATABASE_DIR", str(user_database / "userdb"))
    monkeypatch.delenv("FIFTYONE_DATABASE_URI", raising=False)
    return user_database


def test_init_reads_the_users_dataset_by_its_split_tags(as_the_user: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws), "--fiftyone", "photos"])
    assert result.exit_code == 0, result.output
    images = as_the_user / "images"
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped")]
    assert skipped == [
        f"skipped {images / '6.png'}: tagged both train and val",
        f"skipped {images / '7.png'}: no objects in 'boxes'",
        f"skipped {images / '8.png'}: box [0.900, 0.900, 0.300, 0.300] of 'cell' is outside "
        "the image",
        f"skipped {images / 'gone.png'}: image file does not exist",
    ]
    assert "boxes from 'boxes' (the dataset's only Detections field)" in result.output
    assert "classes cell, blob: as the dataset declares them" in result.output
    assert "1 samples have no train/val/test tag: split 60/20/20 by file name" in result.output
    assert "Field data from FiftyOne dataset 'photos'" in result.output

    from agent.bootstrap import build_deps
    from agent.settings import Settings

    settings = Settings.load(ws)
    assert settings.classes == ["cell", "blob"]  # declared order; a class no box has is left out
    deps = build_deps(settings)
    counts = {split: deps.datasets.count(split) for split in ("train", "val", "test")}
    untagged = [k for k, v in counts.items() if v != {"train": 3, "val": 1, "test": 1}[k]]
    assert len(untagged) == 1 and sum(counts.values()) == 6  # sample 5 went by its name's hash
    view = deps.datasets.split("train")
    boxes = {
        sample.path.name.split("_", 1)[1]: labels
        for sample, labels in zip(
            deps.datasets.samples(view), deps.datasets.labels(view), strict=True
        )
    }
    np.testing.assert_allclose(boxes["0.png"].xyxy, [[8, 8, 28, 18], [40, 20, 60, 30]], atol=1e-4)
    assert boxes["0.png"].class_id.tolist() == [0, 1]


def test_several_detections_fields_need_a_label_field(as_the_user: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws), "--fiftyone", "two_fields"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: FiftyOne dataset 'two_fields' has several Detections fields (ground_truth, "
        "predictions); choose one with --label-field."
    )
    assert not ws.exists()  # nothing written
    result = runner.invoke(
        app,
        [
            "init",
            str(ws),
            "--fiftyone",
            "two_fields",
            "--label-field",
            "ground_truth",
            "--classes",
            "cell",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "class 'blob' is not one of --classes (cell)" in result.output
    assert re.search(r"train\s+│\s+1\s+│", result.output)


def test_a_dataset_that_is_not_there_is_one_sentence(as_the_user: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws), "--fiftyone", "holiday"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: There is no FiftyOne dataset named 'holiday' in the database at "
        f"{as_the_user / 'userdb'} (datasets there: photos, two_fields); check --fiftyone, or "
        "FIFTYONE_DATABASE_URI / FIFTYONE_DATABASE_DIR."
    )
    assert not ws.exists()
