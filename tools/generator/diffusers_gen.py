"""DiffusersGenerator: text-to-image with any diffusers pipeline, and label-preserving edits of real images."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from tools.generator.base import GeneratedImage, GenerationRequest
from tools.world.camera import CameraProfile, capture
from tools.world.layout import distance_factor, shrink_image

NEGATIVE_PROMPT = "cartoon, drawing, text, watermark, blurry, deformed, duplicate objects"


def protect_boxes_mask(
    size: tuple[int, int], boxes: list[tuple[float, float, float, float, str]], margin: float = 2.0
) -> Image.Image:
    """Inpainting mask: white (repaint) everywhere but the objects' boxes, black (keep) on them."""
    mask = Image.new("L", size, 255)
    draw = ImageDraw.Draw(mask)
    for x0, y0, x1, y1, _ in boxes:
        draw.rectangle([x0 - margin, y0 - margin, x1 + margin, y1 + margin], fill=0)
    return mask


def _chunks(items: list[GenerationRequest], size: int) -> Iterator[list[GenerationRequest]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DiffusersGenerator:
    """Any diffusers text-to-image model (SDXL, SD-Turbo, Qwen-Image...) plus its image-to-image
    and inpainting siblings for edits; pipelines load on first use and share their weights."""

    name = "diffusers"

    def __init__(
        self,
        model: str,
        steps: int = 4,
        guidance: float = 0.0,
        negative_prompt: str = NEGATIVE_PROMPT,
        dtype: str = "float16",
        device: str = "cuda",
        cpu_offload: bool = False,
        batch_size: int = 4,
        edit_mode: str = "inpaint",
        strength: float = 0.6,
    ) -> None:
        self.model = model
        self.steps = steps
        self.guidance = guidance
        self.negative_prompt = negative_prompt
        self.dtype = dtype
        self.device = device
        self.cpu_offload = cpu_offload
        self.batch_size = batch_size
        self.edit_mode = edit_mode
        self.strength = strength
        self._pipes: dict[str, Any] = {}

    def _torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype) if self.dtype != "auto" else None

    def _place(self, pipe: Any) -> Any:
        if self.cpu_offload:
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def pipeline(self, kind: str) -> Any:
        """'text', 'image' (image-to-image) or 'inpaint'; the later ones reuse the first's weights."""
        if kind not in self._pipes:
            from diffusers import (
                AutoPipelineForImage2Image,
                AutoPipelineForInpainting,
                AutoPipelineForText2Image,
            )

            if "text" not in self._pipes:
                self._pipes["text"] = self._place(
                    AutoPipelineForText2Image.from_pretrained(
                        self.model, torch_dtype=self._torch_dtype()
                    )
                )
            if kind == "image":
                self._pipes[kind] = AutoPipelineForImage2Image.from_pipe(self._pipes["text"])
            elif kind == "inpaint":
                self._pipes[kind] = AutoPipelineForInpainting.from_pipe(self._pipes["text"])
        return self._pipes[kind]

    def _generators(self, seeds: list[int]) -> list[Any]:
        import torch

        device = "cpu" if self.cpu_offload else self.device
        return [torch.Generator(device=device).manual_seed(seed) for seed in seeds]

    def generate(
        self, requests: list[GenerationRequest], out_dir: Path, size: int
    ) -> tuple[list[GeneratedImage], dict[str, str]]:
        out_dir.mkdir(parents=True, exist_ok=True)
        made: list[GeneratedImage] = []
        failed: dict[str, str] = {}
        fresh = [r for r in requests if r.mode == "generate"]
        edits = [r for r in requests if r.mode == "edit"]
        for chunk in _chunks(fresh, self.batch_size):
            try:
                images = self.pipeline("text")(
                    prompt=[r.prompt for r in chunk],
                    negative_prompt=[self.negative_prompt] * len(chunk)
                    if self.guidance > 1
                    else None,
                    num_inference_steps=self.steps,
                    guidance_scale=self.guidance,
                    height=size,
                    width=size,
                    generator=self._generators([r.seed for r in chunk]),
                ).images
            except Exception as error:  # a failing chunk is dropped and counted, not fatal
                failed.update({r.id: f"{type(error).__name__}: {error}" for r in chunk})
                continue
            for request, image in zip(chunk, images, strict=True):
                made.append(self._save(request, image, out_dir, size, boxes=None))
        for request in edits:
            try:
                made.append(self._edit(request, out_dir, size))
            except Exception as error:
                failed[request.id] = f"{type(error).__name__}: {error}"
        for request in requests:
            if request.mode == "retrieve":
                failed[request.id] = "the diffusers generator does not retrieve"
        return made, failed

    def _edit(self, request: GenerationRequest, out_dir: Path, size: int) -> GeneratedImage:
        """Change conditions of a real image while keeping its objects, so its boxes carry over.

        A `fit` layout asked to be farther away is shrunk about its vanishing point first, boxes
        by the same map, and the border is repainted; a nearer or crowded one cannot be made
        from these pixels without inventing objects, so it keeps its layout (and the request
        check counts it as not made as asked).
        """
        if not request.source_path:
            raise ValueError("an edit needs the source image's path")
        with Image.open(request.source_path) as image:
            source = image.convert("RGB")
        scale = (size / source.width, size / source.height)
        boxes = [
            (x0 * scale[0], y0 * scale[1], x1 * scale[0], y1 * scale[1], cls)
            for x0, y0, x1, y1, cls in request.source_boxes
        ]
        source = source.resize((size, size))
        if request.layout == "fit":
            factor = distance_factor(boxes, request.conditions.get("distance", ""), size)
            if factor < 1:
                source, moved = shrink_image(source, factor)
                boxes = [moved.box(b) for b in boxes]
        common = {
            "prompt": request.prompt,
            "image": source,
            "strength": self.strength,
            "num_inference_steps": max(self.steps, 2),
            "guidance_scale": self.guidance,
            "generator": self._generators([request.seed])[0],
        }
        if self.edit_mode == "inpaint":
            mask = protect_boxes_mask((size, size), boxes)
            image = self.pipeline("inpaint")(
                mask_image=mask, height=size, width=size, **common
            ).images[0]
        else:
            image = self.pipeline("image")(**common).images[0]
        return self._save(request, image, out_dir, size, boxes=boxes)

    def _save(
        self,
        request: GenerationRequest,
        image: Image.Image,
        out_dir: Path,
        size: int,
        boxes: list[tuple[float, float, float, float, str]] | None,
    ) -> GeneratedImage:
        if image.size != (size, size):
            image = image.resize((size, size))
        # Through the field camera like every synthetic image (the request carries its
        # estimate and how much of it): a diffusion model's images are as clean as a renderer's.
        path = capture(
            np.asarray(image.convert("RGB")),
            out_dir / request.id,
            request.camera or CameraProfile(),
            request.realism,
            request.seed,
        )
        record = {
            "model": self.model,
            "mode": request.mode,
            "seed": request.seed,
            "prompt": request.prompt,
            "source_sample_id": request.source_sample_id,
            "realism": request.realism,
        }
        carried = None
        if boxes is not None:
            # Carried boxes are claims for the labeler to verify, not truth.
            carried = out_dir / f"{request.id}.carried.json"
            carried.write_text(
                json.dumps(
                    {
                        "boxes": [list(b[:4]) for b in boxes],
                        "classes": [b[4] for b in boxes],
                        **record,
                    }
                )
            )
        (out_dir / f"{request.id}.meta.json").write_text(json.dumps(record))
        return GeneratedImage(
            request_id=request.id,
            path=path,
            width=size,
            height=size,
            truth_path=None,
            carried_path=carried,
        )
