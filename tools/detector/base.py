"""The Detector protocol: train, predict, embed; every detector backend speaks it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import supervision as sv


class WeightsError(RuntimeError):
    """Model weights that cannot be loaded (missing, truncated, not a model); one sentence."""


@dataclass(frozen=True)
class TrainResult:
    """Where the trained weights are and how long it took."""

    weights: Path
    seconds: float
    epochs: int
    # Seconds of each epoch's pass over the training images (set-up and saving excluded), and
    # how many images one pass holds: together they give the training throughput.
    epoch_seconds: list[float] = field(default_factory=list)
    train_images: int = 0
    threads: int = 0  # torch intra-op threads the training ran with

    @property
    def images_per_second(self) -> float | None:
        """Training images processed per second, over the epochs' passes; None if unmeasured."""
        busy = sum(self.epoch_seconds)
        return self.train_images * len(self.epoch_seconds) / busy if busy > 0 else None


class Detector(Protocol):
    """Trains and runs an object detector whose classes are fixed at construction."""

    classes: list[str]

    def train(
        self,
        data_yaml: Path,
        out_dir: Path,
        init_weights: Path | None,
        epochs: int,
        on_epoch: Callable[[int, int], None] | None = None,
    ) -> TrainResult:
        """Train on a YOLO data folder; start from `init_weights` when given, else from scratch."""
        ...

    def predict(self, weights: Path, images: Sequence[Path]) -> list[sv.Detections]:
        """Boxes (pixel xyxy), class ids and confidences for each image, in order."""
        ...

    def embed(self, weights: Path, images: Sequence[Path]) -> np.ndarray:
        """One feature vector per image (N, D), from the detector's backbone."""
        ...
