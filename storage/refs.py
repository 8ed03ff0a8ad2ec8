"""What storage hands out about a sample: its id, its image file and its size, typed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SampleRef:
    """A sample of a view as the loop refers to it: never its pixels or its labels."""

    id: str
    path: Path
    width: int
    height: int

    @property
    def longest_side(self) -> int:
        return max(self.width, self.height)
