"""The Labeler protocol: boxes for generated images, in the project's classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import supervision as sv

from tools.generator.base import GeneratedImage


class Labeler(Protocol):
    """Labels images; an image it cannot label gets None and is dropped by the loop."""

    name: str

    def label(
        self, images: Sequence[GeneratedImage], classes: Sequence[str]
    ) -> list[sv.Detections | None]: ...
