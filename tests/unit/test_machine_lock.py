"""Two failforge processes on one machine: the second's detector work waits for the first's turn,
and says whom it waits for; with the lock switched off it runs beside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

# Holds the machine's turn (as a training does) until the test creates `release`.
HOLDER = """
import sys, time
from pathlib import Path
from tools.detector.machine_lock import MachineLock
lock, held, release = (Path(a) for a in sys.argv[1:4])
with MachineLock(lock).held("training into /workspaces/a/models/v2"):
    held.touch()
    while not release.exists():
        time.sleep(0.05)
"""

# A real detector predicting, as `failforge status` or a loop's evaluation does.
PREDICTOR = """
import sys
from pathlib import Path
from tools.detector.ultralytics_detector import UltralyticsDetector
lock, weights, image = sys.argv[1:4]
detector = UltralyticsDetector(["car"], imgsz=64, machine_lock=Path(lock) if lock != "-" else None)
detector.predict(Path(weights), [Path(image)])
print("predicted")
"""


def _start(code: str, *args: object, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait_for(condition: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the other process never got there")
        time.sleep(0.05)


@pytest.fixture
def model_and_image(tmp_path: Path) -> tuple[Path, Path]:
    import ultralytics

    # A random YOLOv8n from its config: predicting needs no trained weights.
    config = Path(ultralytics.__file__).parent / "cfg" / "models" / "v8" / "yolov8.yaml"
    weights = tmp_path / "yolov8n.yaml"
    shutil.copy(config, weights)
    image = tmp_path / "scene.png"
    Image.new("RGB", (64, 64), (90, 90, 90)).save(image)
    return weights, image


@pytest.mark.timeout(300)
def test_a_second_process_waits_for_the_first_and_says_so(
    tmp_path: Path, model_and_image: tuple[Path, Path]
) -> None:
    lock, held, release = tmp_path / "detector.lock", tmp_path / "held", tmp_path / "release"
    holder = _start(HOLDER, lock, held, release, log=tmp_path / "holder.log")
    try:
        _wait_for(held.exists)
        out = tmp_path / "predictor.log"
        predictor = _start(PREDICTOR, lock, *model_and_image, log=out)
        _wait_for(lambda: "Waiting for another failforge" in out.read_text())
        time.sleep(1.0)
        assert predictor.poll() is None  # still waiting: the first holds the turn
        released = time.monotonic()
        release.touch()
        assert predictor.wait(120) == 0
        assert time.monotonic() >= released
        said = out.read_text()
        assert (
            f"Waiting for another failforge on this machine (pid {holder.pid}, training into "
            "/workspaces/a/models/v2) to finish before predicting 1 images" in said
        )
        assert "detector.machine_lock: null runs beside it" in said and "predicted" in said
    finally:
        release.touch()
        holder.wait(30)


@pytest.mark.timeout(300)
def test_with_the_lock_off_it_runs_beside_the_other(
    tmp_path: Path, model_and_image: tuple[Path, Path]
) -> None:
    lock, held, release = tmp_path / "detector.lock", tmp_path / "held", tmp_path / "release"
    holder = _start(HOLDER, lock, held, release, log=tmp_path / "holder.log")
    try:
        _wait_for(held.exists)
        out = tmp_path / "predictor.log"
        assert _start(PREDICTOR, "-", *model_and_image, log=out).wait(120) == 0
        assert holder.poll() is None  # the first still held its turn throughout
        assert "Waiting" not in out.read_text() and "predicted" in out.read_text()
    finally:
        release.touch()
        holder.wait(30)


def test_a_prediction_inside_a_training_holds_the_same_turn(tmp_path: Path) -> None:
    """A callback of a training that predicts must not wait for its own training's turn."""
    import threading

    from tools.detector.machine_lock import MachineLock

    lock, said = MachineLock(tmp_path / "detector.lock"), []
    lock.say = said.append

    def nested() -> None:
        with lock.held("training"), lock.held("predicting"):
            pass

    worker = threading.Thread(target=nested, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive() and said == []
