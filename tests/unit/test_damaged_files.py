"""Damaged workspace files give one sentence naming the file and what to do, and stay untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.graph import sqlite_checkpointer
from agent.settings import Settings
from storage.export import ExportItem
from storage.registry import Registry
from storage.workspace import WorkspaceError
from tools.convert import make_detections


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("loop: [unclosed\n", "is not valid YAML at line"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("loop: {batch_size: -3}\n", "loop.batch_size"),
        (b"\xff\xfe\x00garbage", "is not valid YAML"),
    ],
)
def test_a_damaged_settings_file(tmp_path: Path, content: str | bytes, says: str) -> None:
    path = tmp_path / "failforge.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = path.read_bytes()
    with pytest.raises(WorkspaceError, match=says) as raised:
        Settings.load(tmp_path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content", [b"garbage, not a database\n" * 10, b"SQLite format 3\x00" + b"\x01" * 200]
)
def test_a_damaged_registry_or_checkpoint_file(tmp_path: Path, content: bytes) -> None:
    registry = tmp_path / "registry.sqlite"
    registry.write_bytes(content)
    with pytest.raises(WorkspaceError, match=r"registry\.sqlite cannot be read as a database"):
        Registry(registry)
    checkpoints = tmp_path / "checkpoints.sqlite"
    checkpoints.write_bytes(content)
    with pytest.raises(WorkspaceError, match=r"checkpoints\.sqlite cannot be read as a database"):
        sqlite_checkpointer(checkpoints)
    assert registry.read_bytes() == content and checkpoints.read_bytes() == content


def test_damaged_model_weights(tmp_path: Path) -> None:
    from tools.detector.base import WeightsError
    from tools.detector.ultralytics_detector import UltralyticsDetector

    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"PK\x03\x04 truncated")
    detector = UltralyticsDetector(["car"], device="cpu")
    with pytest.raises(WeightsError, match="cannot be loaded") as raised:
        detector.predict(weights, [])
    assert str(weights) in str(raised.value) and weights.read_bytes() == b"PK\x03\x04 truncated"
    with pytest.raises(WeightsError, match="do not exist"):
        detector.train(tmp_path / "data.yaml", tmp_path / "out", tmp_path / "missing.pt", 1)


def _items(tmp_path: Path, count: int) -> list[ExportItem]:
    items = []
    for k in range(count):
        path = tmp_path / f"img{k}.jpg"
        Image.new("RGB", (32, 32)).save(path)
        items.append(
            ExportItem(path, 32, 32, make_detections(np.array([[1, 1, 9, 9]]), np.array([0])))
        )
    return items


def test_an_export_with_missing_images_says_so_and_writes_nothing(tmp_path: Path) -> None:
    from storage.export import export_yolo

    items = _items(tmp_path, 3)
    items[1].path.unlink()
    with pytest.raises(WorkspaceError, match=r"1 image\(s\) of the workspace are missing"):
        export_yolo(tmp_path / "data", ["car"], {"train": items})
    assert not (tmp_path / "data").exists()


def test_a_full_disk_leaves_no_half_written_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from storage import export

    items = _items(tmp_path, 4)
    good = export.export_yolo(tmp_path / "data", ["car"], {"train": items})
    written = sorted(p.name for p in (tmp_path / "data" / "labels" / "train").iterdir())
    calls = []

    def fill_up(source: Path, target: Path) -> None:
        calls.append(target)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        target.write_bytes(source.read_bytes())

    monkeypatch.setattr(export, "_link_or_copy", fill_up)
    with pytest.raises(WorkspaceError, match="is full"):
        export.export_yolo(tmp_path / "data", ["car"], {"train": items})
    # The previous complete export is still there, and no partial folder is left behind.
    assert good.is_file() and not (tmp_path / "data.partial").exists()
    assert sorted(p.name for p in (tmp_path / "data" / "labels" / "train").iterdir()) == written
