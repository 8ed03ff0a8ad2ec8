"""The Labeler protocol: boxes for generated images, in the project's classes, or why not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import supervision as sv

from tools.generator.base import GeneratedImage


@dataclass(frozen=True)
class LabelFailure:
    """An image the labeller could not label, and why (missing weights, out of memory, no scene
    truth): the loop drops the image and records this reason, never "nothing"."""

    reason: str

    @classmethod
    def of(cls, error: BaseException) -> LabelFailure:
        return cls(f"{type(error).__name__}: {error}".strip())


Label = sv.Detections | LabelFailure


class Labeler(Protocol):
    """Labels images: each gets its detections (possibly none) or a LabelFailure."""

    name: str
    # True when the labels are the boxes the generator itself placed (exact by construction):
    # the loop then skips the label check against the incumbent detector.
    exact: bool

    def label(self, images: Sequence[GeneratedImage], classes: Sequence[str]) -> list[Label]: ...
