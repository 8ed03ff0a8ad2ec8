"""The RequestChecker port: did each generated image come out as its request asked?"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol

import supervision as sv
from pydantic import BaseModel, Field


class CheckItem(NamedTuple):
    """One labelled image beside what was asked of it."""

    path: str
    prompt: str
    conditions: dict[str, str]
    detections: sv.Detections
    size: int
    # Measured attribute -> [low, high] a paste request aimed at (GenerationRequest.targets).
    targets: Mapping[str, tuple[float, float]] = MappingProxyType({})


class RequestCheck(BaseModel):
    """How well one image agrees with its request, and whether it counts as made as asked."""

    score: float = Field(description="agreement: share of conditions met, or image-text similarity")
    as_asked: bool
    unmet: list[str] = Field(default_factory=list, description="conditions that came out otherwise")
    checked: bool = Field(
        True,
        description="False when the request asked nothing to check: neither as asked nor not, "
        "and left out of the share made as asked",
    )


class RequestChecker(Protocol):
    """Checks a batch's images against their requests."""

    name: str
    # Whether images not made as asked are dropped from the batch (else only counted).
    drops: bool

    def check(self, items: list[CheckItem]) -> list[RequestCheck]: ...
