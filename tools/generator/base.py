"""The ImageGenerator protocol and the requests and images it exchanges with the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from pydantic import BaseModel, Field

from tools.world.camera import CameraProfile

Box = tuple[float, float, float, float, str]  # x0, y0, x1, y1 (pixels) and class name


class EditSource(NamedTuple):
    """A real training image an edit may re-stage or repaint, with its labelled boxes."""

    sample_id: str
    path: str
    boxes: list[Box]


class GenerationRequest(BaseModel):
    """One image to make: a prompt with structured scene attributes beside it."""

    id: str
    slice_name: str
    prompt: str
    conditions: dict[str, str] = Field(description="lighting, weather, distance, crowding")
    class_focus: list[str] = Field(default_factory=list)
    seed: int
    mode: Literal["generate", "edit", "retrieve", "paste"] = "generate"
    source_sample_id: str | None = None
    source_path: str | None = Field(None, description="for 'retrieve': the pool image to take")
    source_boxes: list[tuple[float, float, float, float, str]] = Field(default_factory=list)
    layout: Literal["keep", "fit"] = Field(
        "keep",
        description="for 'edit': keep the source's layout (only lighting and weather change), or "
        "fit it to the requested distance and crowding (rescaled, occluders added; exact boxes)",
    )
    realism: float = Field(0.0, ge=0, le=1, description="how much field-camera degradation")
    targets: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="for 'paste': measured attribute -> [low, high] the made image must land in, "
        "in discovery's units (brightness, contrast, haze, sharpness of the image; box_size and "
        "overlap of the pasted objects; objects: how many to paste)",
    )
    camera: CameraProfile | None = Field(
        None, description="the field camera to degrade through (estimated from field images)"
    )


class GeneratedImage(BaseModel):
    """An image on disk made for a request; `truth_path` holds scene-truth labels if known."""

    request_id: str
    path: Path
    width: int
    height: int
    truth_path: Path | None = None
    carried_path: Path | None = Field(None, description="boxes an edit carried over, to verify")
    carried_dropped: int = Field(0, description="carried boxes the labeler could not find again")


class ImageGenerator(Protocol):
    """Makes images for requests; a request it cannot serve is left out and reported by id."""

    name: str

    def generate(
        self, requests: list[GenerationRequest], out_dir: Path, size: int
    ) -> tuple[list[GeneratedImage], dict[str, str]]:
        """Images made, and {request id: reason} for the ones that failed."""
        ...
