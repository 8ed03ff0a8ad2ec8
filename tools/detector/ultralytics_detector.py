"""UltralyticsDetector: YOLOv8 trained from a model yaml or fine-tuned from a .pt, never downloading."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from tools.convert import empty_detections
from tools.detector.base import TrainResult, WeightsError
from tools.detector.cpu_memory_format import use_channels_last
from tools.detector.cpu_precision import (
    Precision,
    allow_cpu_bf16_autocast,
    cpu_training_precision,
    use_float32_loss,
)
from tools.detector.cpu_threads import torch_threads, use_threads
from tools.detector.machine_lock import DEFAULT_PATH as DEFAULT_LOCK
from tools.detector.machine_lock import MachineLock

log = logging.getLogger(__name__)

MAX_DETECTIONS = 100  # boxes kept per image, in prediction and in validation alike


@lru_cache(maxsize=1)
def _open(yolo: Any, weights: Path) -> Any:
    """Load a `.pt`; a missing or damaged file is one sentence naming it, not a traceback."""
    if not weights.is_file():
        raise WeightsError(f"The model weights {weights} do not exist; retrain or restore them.")
    try:
        return yolo(str(weights))
    except Exception as error:  # torch and pickle raise many kinds for a damaged file
        raise WeightsError(
            f"The model weights {weights} cannot be loaded ({type(error).__name__}: damaged or "
            "not a model); retrain or restore them (nothing was changed)."
        ) from None


def _yolo_class() -> Any:
    # ultralytics reads these when imported. Offline mode stops it from reaching for
    # yolov8n.pt (AMP check), fonts (plots) and update checks; nothing can be downloaded here.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS

    SETTINGS.update({"sync": False})
    return YOLO


def _batches(items: Sequence[Path], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield [str(p) for p in items[start : start + size]]


class UltralyticsDetector:
    """YOLOv8 through ultralytics; weights load on first use and are cached per path."""

    def __init__(
        self,
        classes: Sequence[str],
        model: str = "yolov8n.yaml",
        imgsz: int = 160,
        batch: int = 32,
        nominal_batch: int = 64,
        workers: int = 2,
        cpu_workers: int = 0,
        device: str = "cpu",
        seed: int = 0,
        predict_conf: float = 0.01,
        threads: int | None = None,
        cache: bool = False,
        cpu_precision: Precision = "fp32",
        cpu_channels_last: bool = False,
        finetune_lr: float = 0.0005,
        machine_lock: Path | None = DEFAULT_LOCK,
    ) -> None:
        self.classes = list(classes)
        self.model = model
        self.imgsz = imgsz
        self.batch = batch
        self.nominal_batch = nominal_batch
        self.workers = workers
        self.cpu_workers = cpu_workers
        self.device = device
        self.seed = seed
        self.predict_conf = predict_conf
        # ultralytics' CPU device selection sets torch to cpu_count - 1 threads (one of two
        # cores here) every time it runs; callbacks set the count back after it.
        self.threads = torch_threads(threads)
        self.cache = cache
        self.cpu_precision = cpu_precision
        self.cpu_channels_last = cpu_channels_last
        self.finetune_lr = finetune_lr
        # Trainings and predictions of every failforge on this machine take turns (None: not).
        self.turns = MachineLock(machine_lock)
        self._loaded: dict[Path, Any] = {}

    def _load(self, weights: Path) -> Any:
        if weights not in self._loaded:
            model = _open(_yolo_class(), weights)
            for event in ("on_predict_start", "on_val_start"):
                model.add_callback(event, self._use_threads)
            self._loaded = {weights: model}  # keep one model in memory
        return self._loaded[weights]

    def _use_threads(self, _: Any = None) -> None:
        if self._on_cpu():
            use_threads(self.threads)

    def _on_cpu(self) -> bool:
        return self.device.lower() in ("cpu", "mps")

    def _training_callbacks(self, model: Any, clock: _EpochClock) -> None:
        def before_training(trainer: Any) -> None:
            self._use_threads()
            if self._on_cpu():
                # ultralytics forces 0 dataloader workers on CPU; the setting decides here.
                trainer.args.workers = self.cpu_workers

        model.add_callback("on_pretrain_routine_start", before_training)
        if self._on_cpu() and self.cpu_channels_last:
            model.add_callback("on_pretrain_routine_end", use_channels_last)
        model.add_callback("on_train_start", lambda trainer: self._use_threads())
        model.add_callback("on_train_epoch_start", lambda trainer: clock.start())
        model.add_callback("on_train_epoch_end", clock.stop)

    def train(
        self,
        data_yaml: Path,
        out_dir: Path,
        init_weights: Path | None,
        epochs: int,
        on_epoch: Callable[[int, int], None] | None = None,
        **overrides: Any,
    ) -> TrainResult:
        """Train into `out_dir`; returns the final weights. `on_epoch(done, total)` reports progress."""
        yolo = _yolo_class()
        # From the given weights, else from self.model (a yaml, or a user's own .pt).
        model = _open(yolo, init_weights) if init_weights is not None else self._start_model(yolo)
        own_weights = init_weights is None and self.model.endswith(".pt")
        clock = _EpochClock()
        self._training_callbacks(model, clock)
        amp = self._autocast(model)
        started = time.perf_counter()
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        pretrained = init_weights is not None or own_weights
        arguments = self._recipe(data_yaml, out_dir, epochs, amp, init_weights is None, pretrained)
        arguments.update(overrides)
        if on_epoch is not None:
            model.add_callback(
                "on_train_epoch_end", lambda trainer: on_epoch(trainer.epoch + 1, trainer.epochs)
            )
        with self.turns.held(f"training into {out_dir}"):
            model.train(**arguments)
        weights = out_dir / "weights" / "best.pt"
        if not weights.is_file():
            weights = out_dir / "weights" / "last.pt"
        return TrainResult(
            weights=weights,
            seconds=time.perf_counter() - started,
            epochs=epochs,
            epoch_seconds=clock.seconds,
            train_images=clock.images,
            threads=clock.threads,
        )

    def _autocast(self, model: Any) -> bool | str:
        """The `amp` argument of a training: bf16 where the CPU computes it, else off."""
        # bfloat16 autocast on a CPU that computes it natively: measured 1.6x faster forward and
        # backward passes of YOLOv8n at 160 px (weights, optimiser and loss stay float32).
        amp: bool | str = False
        if self.device.lower() == "cpu" and cpu_training_precision(self.cpu_precision) == "bf16":
            allow_cpu_bf16_autocast()
            model.add_callback("on_train_start", use_float32_loss)
            amp = "bf16"
        return amp

    def _recipe(
        self,
        data_yaml: Path,
        out_dir: Path,
        epochs: int,
        amp: bool | str,
        from_scratch: bool,
        pretrained: bool,
    ) -> dict[str, Any]:
        """ultralytics' training arguments: the data, this detector's settings and the CPU recipe
        (a first training from scratch, or a fine-tune from weights)."""
        return dict(
            data=str(data_yaml),
            epochs=epochs,
            imgsz=self.imgsz,
            batch=self.batch,
            nbs=self.nominal_batch,
            workers=self.workers,
            device=self.device,
            seed=self.seed,
            deterministic=True,
            project=str(out_dir.parent),
            name=out_dir.name,
            exist_ok=True,
            plots=False,
            verbose=False,
            amp=amp,
            # ultralytics drops a loaded checkpoint's weights when pretrained=False: fine-tuning
            # and a user's own .pt must say True; a yaml says False (nothing to load or fetch).
            pretrained=pretrained,
            val=False,
            # Decoded images in memory: epochs after the first skip JPEG decoding.
            cache="ram" if self.cache else False,
            # Short CPU schedules: AdamW (a lower rate when fine-tuning), a short warm-up, milder
            # scale jitter so that small, far objects stay visible at 160 px, and the last third
            # without mosaic. Measured on the default world (ultralytics test mAP50, one run each,
            # scripts/tune_recipe.py, when `validate` still used conf 0.001 and padded batches):
            # from scratch, 18 epochs, lr0 0.002 -> 0.004 with mosaic closed for the last third
            # 0.479 -> 0.543 (mosaic never: 0.521), 30 epochs 0.596 -> 0.633; fine-tuning v1
            # for 8 epochs, lr0 0.0005 / 0.001 / 0.002 / 0.004: 0.628 / 0.634 / 0.649 / 0.628;
            # but in the loop 0.002 moved guarded val slices past the gate's 0.05 limit (no
            # promotion in 3 cycles), so fine-tunes keep 0.0005 (`finetune_lr`). Since then an
            # optimizer step per batch (`nominal_batch` 16, ultralytics' nbs 64 accumulated four
            # batches: 285 steps in the whole baseline) raised the 30-epoch baseline on seeds
            # 0 / 1 / 2 from 0.553 / 0.577 / 0.596 to 0.663 / 0.670 / 0.661 at lr0 0.002 (0.647
            # at 0.004, seed 0), with today's validation.
            optimizer="AdamW",
            lr0=0.002 if from_scratch else self.finetune_lr,
            warmup_epochs=1 if from_scratch else 0,
            scale=0.3,
            close_mosaic=max(1, epochs // 3),
        )

    def _start_model(self, yolo: Any) -> Any:
        """The model a first training starts from: a yaml (random weights), or a user's own
        detection weights (a .pt). From a .pt, ultralytics (8.4) copies every layer and moves
        each class's rows of the class layer to where the data's class of that name is, for
        any number of classes; a class the weights do not know starts fresh. The recipe stays
        the one for training from scratch (rate, warm-up): the class layer is new to the data."""
        if not self.model.endswith(".pt"):
            return yolo(self.model)
        weights = Path(self.model)
        if not weights.is_file():
            raise WeightsError(
                f"detector.model {weights} does not exist; point it at your own .pt weights or "
                "at a model yaml such as yolov8n.yaml."
            )
        model = _open.__wrapped__(yolo, weights)  # a copy of its own: training replaces its model
        if model.task != "detect":
            raise WeightsError(
                f"detector.model {weights} holds a {model.task} model; failforge trains "
                "detectors (YOLOv8 detection weights)."
            )
        return model

    def predict(self, weights: Path, images: Sequence[Path]) -> list[sv.Detections]:
        with self.turns.held(f"predicting {len(images)} images with {weights}"):
            return self._predict(weights, images)

    def _predict(self, weights: Path, images: Sequence[Path]) -> list[sv.Detections]:
        model = self._load(weights)
        detections: list[sv.Detections] = []
        for chunk in _batches(images, 64):
            for result in model.predict(
                chunk,
                imgsz=self.imgsz,
                conf=self.predict_conf,
                device=self.device,
                verbose=False,
                max_det=MAX_DETECTIONS,
            ):
                found = sv.Detections.from_ultralytics(result)
                detections.append(found if len(found) else empty_detections())
        return detections

    def embed(self, weights: Path, images: Sequence[Path]) -> np.ndarray:
        model = self._load(weights)
        vectors: list[np.ndarray] = []
        with self.turns.held(f"embedding {len(images)} images with {weights}"):
            for chunk in _batches(images, 64):
                for tensor in model.embed(
                    chunk, imgsz=self.imgsz, device=self.device, verbose=False
                ):
                    vectors.append(tensor.detach().cpu().numpy().reshape(-1))
        if not vectors:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(vectors).astype(np.float32)

    def validate(self, weights: Path, data_yaml: Path, split: str = "val") -> dict[str, float]:
        """ultralytics' own validation (mAP50, mAP50-95) of the boxes `predict` keeps, for
        cross-checking our evaluation: same confidence floor, same cap per image, same pixels."""
        with self.turns.held(f"validating {weights}"):
            metrics = self._validate(weights, data_yaml, split)
        return {"map50": float(metrics.box.map50), "map50_95": float(metrics.box.map)}

    def _validate(self, weights: Path, data_yaml: Path, split: str) -> Any:
        return self._load(weights).val(
            validator=_single_label_validator(),
            data=str(data_yaml),
            split=split,
            imgsz=self.imgsz,
            batch=self.batch,
            device=self.device,
            plots=False,
            verbose=False,
            conf=self.predict_conf,
            max_det=MAX_DETECTIONS,
            workers=0,
            # ultralytics validates on rectangular batches padded by half a stride (a 96 px image
            # becomes a 128 px canvas with a grey border), which neither training nor `predict`
            # shows the model: on the test suite's tiny model that alone cost 0.10 mAP50. Square
            # letterboxing is what `predict` does, so both evaluations see the same pixels.
            rect=False,
        )


@lru_cache(maxsize=1)
def _single_label_validator() -> type:
    """ultralytics' detection validator with the NMS `predict` uses: one label per box. Its own
    keeps every class over the confidence floor for a box (multi-label), extra boxes no
    prediction of ours has; on the test suite's tiny model that moved mAP50 by up to 0.011."""
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils import nms

    class SingleLabelValidator(DetectionValidator):  # type: ignore[misc]
        def postprocess(self, preds: Any) -> list[dict[str, Any]]:
            outputs = nms.non_max_suppression(
                preds,
                self.args.conf,
                self.args.iou,
                multi_label=False,
                agnostic=self.args.single_cls or self.args.agnostic_nms,
                max_det=self.args.max_det,
                end2end=self.end2end,
            )
            return [
                {"bboxes": x[:, :4], "conf": x[:, 4], "cls": x[:, 5], "extra": x[:, 6:]}
                for x in outputs
            ]

    return SingleLabelValidator


class _EpochClock:
    """Times each epoch's pass over the training images, and reads back torch's thread count."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.images = 0
        self.threads = 0
        self._started = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self, trainer: Any) -> None:
        import torch

        self.seconds.append(time.perf_counter() - self._started)
        self.images = len(trainer.train_loader.dataset)
        self.threads = torch.get_num_threads()  # read in the training process, after the epoch
