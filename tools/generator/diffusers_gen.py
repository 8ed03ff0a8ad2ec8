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
        for request in (r for r in requests if r.mode == "paste"):
            try:
                made.append(self._inpaint_objects(request, out_dir, size))
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

    def _inpaint_objects(
        self, request: GenerationRequest, out_dir: Path, size: int
    ) -> GeneratedImage:
        """A paste request on a GPU: the requested objects painted into the user's photograph
        (inpainting ellipses at the requested sizes), then the image edited toward its
        attribute targets. The source's boxes and the painted ones are claims the labeller
        verifies (a diffusion model may paint something else, or nothing)."""
        from tools.image_edits import edit_toward

        if not request.source_path:
            raise ValueError("a paste needs the photograph to paint into (source_path)")
        with Image.open(request.source_path) as image:
            source = image.convert("RGB")
        # The photograph's own aspect, its long side at `size`, both sides multiples of 8.
        scale = size / max(source.size)
        width, height = (max(8, round(v * scale / 8) * 8) for v in source.size)
        sx, sy = width / source.width, height / source.height
        boxes = [
            (x0 * sx, y0 * sy, x1 * sx, y1 * sy, cls)
            for x0, y0, x1, y1, cls in request.source_boxes
        ]
        rng = np.random.default_rng(request.seed)
        low, high = request.targets.get("objects", (1.0, 3.0))
        sizes = request.targets.get("box_size", (0.08, 0.15))
        classes = request.class_focus or sorted({b[4] for b in boxes})
        if not classes:
            raise ValueError("a paste needs a class to paint (class_focus)")
        mask = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(mask)
        painted: list[tuple[float, float, float, float, str]] = []
        for k in range(int(rng.integers(int(low), int(high) + 1))):
            side = float(rng.uniform(*sizes)) * max(width, height)
            x0 = float(rng.uniform(0, max(width - side, 1)))
            y0 = float(rng.uniform(0, max(height - side, 1)))
            draw.ellipse([x0, y0, x0 + side, y0 + side], fill=255)
            painted.append((x0, y0, x0 + side, y0 + side, classes[k % len(classes)]))
        names = ", ".join(dict.fromkeys(b[4] for b in painted))
        image = self.pipeline("inpaint")(
            prompt=f"a photograph of {names}",
            image=source.resize((width, height)),
            mask_image=mask,
            height=height,
            width=width,
            strength=max(self.strength, 0.9),  # new objects need most of the noise
            num_inference_steps=max(self.steps, 2),
            guidance_scale=self.guidance,
            generator=self._generators([request.seed])[0],
        ).images[0]
        pixels = np.asarray(image.convert("RGB").resize((width, height)))
        aims = {k: v for k, v in request.targets.items() if k not in ("objects", "box_size")}
        aims.pop("overlap", None)
        if aims:
            pixels = edit_toward(pixels, aims, seed=request.seed).decoded()
        return self._save(
            request, Image.fromarray(pixels), out_dir, (width, height), boxes=boxes + painted
        )

    def _save(
        self,
        request: GenerationRequest,
        image: Image.Image,
        out_dir: Path,
        size: int | tuple[int, int],
        boxes: list[tuple[float, float, float, float, str]] | None,
    ) -> GeneratedImage:
        width, height = size if isinstance(size, tuple) else (size, size)
        if image.size != (width, height):
            image = image.resize((width, height))
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
            width=width,
            height=height,
            truth_path=None,
            carried_path=carried,
        )
