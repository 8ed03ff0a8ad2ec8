"""ProceduralGenerator: renders requests with the demo world's renderer, writing scene truth beside each image."""

from __future__ import annotations

import json
from pathlib import Path

from tools.generator.base import GeneratedImage, GenerationRequest
from tools.world.camera import CameraProfile, capture
from tools.world.config import WorldConfig
from tools.world.field import field_image_conditions
from tools.world.render import render
from tools.world.sampler import CLASS_WEIGHTS, restage_scene, sample_scene
from tools.world.scene import CLASSES, Conditions


class ProceduralGenerator:
    """Text-free generation: the request's scene attributes drive the renderer directly."""

    name = "procedural"

    def __init__(self, camera: CameraProfile | None = None) -> None:
        self.camera = camera or CameraProfile()

    def generate(
        self, requests: list[GenerationRequest], out_dir: Path, size: int
    ) -> tuple[list[GeneratedImage], dict[str, str]]:
        out_dir.mkdir(parents=True, exist_ok=True)
        made: list[GeneratedImage] = []
        failed: dict[str, str] = {}
        for request in requests:
            try:
                made.append(self._one(request, out_dir, size))
            except Exception as error:  # one bad request must not stop the batch
                failed[request.id] = f"{type(error).__name__}: {error}"
        return made, failed

    def _one(self, request: GenerationRequest, out_dir: Path, size: int) -> GeneratedImage:
        conditions = Conditions.model_validate(request.conditions)
        if request.mode == "edit" and request.source_boxes:
            spec = restage_scene(
                request.source_boxes, conditions, request.seed, size, request.layout == "fit"
            )
        else:
            weights = dict(CLASS_WEIGHTS)
            for cls in request.class_focus:
                weights[cls] = weights[cls] + 1.0  # focus classes dominate the scene
            spec = sample_scene(conditions, request.seed, size, weights)
        result = render(spec)
        path = capture(
            result.image,
            out_dir / request.id,
            request.camera or self.camera,
            request.realism,
            request.seed,
        )
        truth_path = out_dir / f"{request.id}.truth.json"
        truth_path.write_text(
            json.dumps(
                {
                    "boxes": result.boxes.tolist(),
                    "classes": [CLASSES[int(c)] for c in result.class_ids],
                }
            )
        )
        return GeneratedImage(
            request_id=request.id, path=path, width=size, height=size, truth_path=truth_path
        )


def rendered_conditions(request: GenerationRequest, world: WorldConfig) -> dict[str, str] | None:
    """The four scene conditions of the image this generator renders for `request` in `world`
    (None where they are not known: a mode it does not render, retrieve or paste, or an edit of
    an image that is not one of the world's field images).

    A generated scene is drawn under the request's conditions: they are its truth. An edit
    re-stages a field image's boxes under the request's lighting and weather: with its layout
    kept, its distance and crowding are the field image's own; with the layout fitted, the
    request's (`fit_layout` moves it into the requested distance's band, nearer only as far as
    the frame allows, and crowds it for a dense request, never thinning a crowded one).
    """
    if request.mode not in ("generate", "edit"):
        return None
    tags = Conditions.model_validate(request.conditions).tags()
    if request.mode == "generate" or not request.source_boxes or request.layout == "fit":
        return tags
    source = field_image_conditions(world, request.source_path or "")
    if source is None:
        return None
    return {**tags, "distance": source.distance, "crowding": source.crowding}
