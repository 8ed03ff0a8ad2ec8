"""Training settings reach the training process: the thread count failforge sets (not the one
ultralytics picks), bfloat16, channels-last memory, images per optimizer step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from agent.bootstrap import build_detector
from agent.settings import Settings
from storage.export import ExportItem, export_yolo
from tools.convert import make_detections
from tools.detector.cpu_threads import available_cores
from tools.world.config import read_world
from tools.world.field import render_field

pytestmark = pytest.mark.slow

WORLD = """\
seed: 5
image_size: 64
splits: {train: 8, val: 4, test: 4}
"""


@pytest.fixture(scope="module")
def data_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("threads")
    (root / "world.yaml").write_text(WORLD)
    world = read_world(root / "world.yaml")
    splits = {}
    for split in ("train", "val"):
        splits[split] = [
            ExportItem(item.path, 64, 64, make_detections(item.boxes, item.class_ids.astype(int)))
            for item in render_field(world, root / "images" / split, split)
        ]
    return export_yolo(root / "data", ["car", "person", "sign"], splits)


def _detector(threads: int | None) -> Any:
    settings = Settings(detector={"imgsz": 64, "batch": 4, "threads": threads})
    return build_detector(settings)


def _threads_while_predicting(detector: Any, weights: Path, images: list[Path]) -> list[int]:
    seen: list[int] = []
    detector._load(weights).add_callback(
        "on_predict_batch_end", lambda predictor: seen.append(torch.get_num_threads())
    )
    detector.predict(weights, images)
    return seen


def test_training_and_prediction_use_every_core_by_default(data_yaml: Path, tmp_path: Path) -> None:
    detector = _detector(None)
    result = detector.train(data_yaml, tmp_path / "run", None, 1)
    # Read inside the training process at the end of the epoch; ultralytics alone would leave
    # cpu_count - 1 threads there.
    assert result.threads == available_cores()
    assert result.train_images == 8
    assert len(result.epoch_seconds) == 1 and result.images_per_second > 0
    images = sorted((data_yaml.parent / "images" / "val").iterdir())
    torch.set_num_threads(1)  # what a previous ultralytics device selection leaves behind
    assert set(_threads_while_predicting(detector, result.weights, images)) == {available_cores()}


def test_a_thread_cap_in_settings_is_honoured(data_yaml: Path, tmp_path: Path) -> None:
    detector = _detector(1)
    assert detector.threads == 1
    result = detector.train(data_yaml, tmp_path / "run", None, 1)
    assert result.threads == 1
    images = sorted((data_yaml.parent / "images" / "val").iterdir())
    torch.set_num_threads(available_cores())
    assert set(_threads_while_predicting(detector, result.weights, images)) == {1}


def test_a_cap_above_the_machine_is_the_machine() -> None:
    assert _detector(available_cores() + 7).threads == available_cores()


def _train_watching(
    detector_settings: dict[str, Any],
    data_yaml: Path,
    out: Path,
    event: str,
    watch: Callable[[Any], None],
    init_weights: Path | None = None,
    **overrides: Any,
) -> Any:
    """Train one epoch (from `init_weights`: a fine-tune) with `watch(trainer)` called on `event`
    after the detector's own callbacks."""
    detector = build_detector(Settings(detector={"imgsz": 64, "batch": 4, **detector_settings}))
    original = detector._training_callbacks

    def spy(model: Any, clock: Any) -> None:
        original(model, clock)
        model.add_callback(event, watch)

    detector._training_callbacks = spy
    return detector.train(data_yaml, out, init_weights, 1, **overrides)


def test_bf16_training_runs_on_the_cpu_with_a_float32_loss(data_yaml: Path, tmp_path: Path) -> None:
    from ultralytics.utils.torch_utils import unwrap_model

    from tools.detector.cpu_precision import Float32Loss

    seen: dict[str, Any] = {}

    def record(trainer: Any) -> None:
        seen["amp"] = trainer.args.amp
        seen["loss"] = type(unwrap_model(trainer.model).criterion)

    result = _train_watching(
        {"cpu_precision": "bf16"}, data_yaml, tmp_path / "run", "on_train_epoch_end", record
    )
    assert seen == {"amp": "bf16", "loss": Float32Loss}
    assert result.weights.is_file()


@pytest.mark.parametrize("channels_last", [True, False])
def test_cpu_training_keeps_the_weights_in_the_memory_format_set(
    data_yaml: Path, tmp_path: Path, channels_last: bool
) -> None:
    from ultralytics.utils.torch_utils import unwrap_model

    seen: list[bool] = []

    def record(trainer: Any) -> None:
        convs = [m for m in unwrap_model(trainer.model).modules() if isinstance(m, torch.nn.Conv2d)]
        seen.extend(
            c.weight.is_contiguous(memory_format=torch.channels_last)
            and not c.weight.is_contiguous()
            for c in convs
            if c.kernel_size != (1, 1)  # a 1x1 kernel's layouts coincide for some shapes
        )

    result = _train_watching(
        {"cpu_channels_last": channels_last},
        data_yaml,
        tmp_path / "run",
        "on_train_batch_end",
        record,
    )
    assert seen and set(seen) == {channels_last}
    assert result.weights.is_file()


@pytest.mark.parametrize(("nominal_batch", "accumulate"), [(4, 1), (8, 2)])
def test_the_optimizer_steps_every_nominal_batch_of_images(
    data_yaml: Path, tmp_path: Path, nominal_batch: int, accumulate: int
) -> None:
    seen: list[int] = []
    _train_watching(
        {"nominal_batch": nominal_batch},
        data_yaml,
        tmp_path / "run",
        "on_train_epoch_end",
        lambda trainer: seen.append(trainer.accumulate),
        warmup_epochs=0,
    )
    assert seen == [accumulate]


def test_by_default_the_optimizer_steps_once_a_batch() -> None:
    # Read from the declared defaults: the test session sets FAILFORGE_DETECTOR__BATCH.
    fields = type(Settings().detector).model_fields
    assert fields["nominal_batch"].default == fields["batch"].default


def test_a_fine_tune_starts_at_the_fine_tuning_rate_set(data_yaml: Path, tmp_path: Path) -> None:
    rates: list[float] = []

    def record(trainer: Any) -> None:
        rates.append(trainer.args.lr0)

    scratch = _train_watching({}, data_yaml, tmp_path / "v1", "on_train_start", record)
    _train_watching(
        {"finetune_lr": 0.0007},
        data_yaml,
        tmp_path / "v2",
        "on_train_start",
        record,
        init_weights=scratch.weights,
    )
    assert rates == [0.002, 0.0007]  # from scratch the rate is fixed; a fine-tune's is the setting


def test_the_network_sees_the_images_enlarged_by_the_input_scale(
    data_yaml: Path, tmp_path: Path
) -> None:
    seen: list[Any] = []

    def record(trainer: Any) -> None:
        seen.append(trainer.train_loader.dataset.load_image(0)[0].shape[:2])

    result = _train_watching(
        {"input_scale": 2}, data_yaml, tmp_path / "run", "on_train_epoch_end", record
    )
    assert seen == [(128, 128)]  # the 64 px images, upsampled for training
    detector = build_detector(Settings(detector={"imgsz": 64, "input_scale": 2}))
    predicted: list[Any] = []
    detector._load(result.weights).add_callback(
        "on_predict_batch_end", lambda predictor: predicted.append(predictor.imgsz)
    )
    images = sorted((data_yaml.parent / "images" / "val").iterdir())
    detections = detector.predict(result.weights, images)
    assert predicted and all(list(size) == [128, 128] for size in predicted)
    assert len(detections) == len(images)
