"""The Detector protocol: train, predict, embed; every detector backend speaks it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import supervision as sv


@dataclass(frozen=True)
class TrainResult:
    """Where the trained weights are and how long it took."""

    weights: Path
    seconds: float
    epochs: int


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
