"""Settings of the tools' backends: which generator and labeler, the analyst, the generator, the labeler."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class BackendSettings(BaseModel):
    """Which generator and labeler the loop uses (the analyst has its own section)."""

    generator: Literal["procedural", "paste", "retrieval", "diffusers"] | None = Field(
        None,
        description="procedural: the demo world's renderer (demo world only); paste: copy-paste "
        "of the train split's own objects and attribute edits of its images (CPU, no download); "
        "diffusers: text-to-image and inpainting on a GPU; retrieval: nearest images of a pool. "
        "Default: procedural for the demo world, paste for imported photographs",
    )
    labeler: Literal["truth", "grounded-sam"] = Field(
        "truth",
        description="truth: the boxes the generator placed (renderer or paste); grounded-sam: "
        "GroundingDINO + SAM on a GPU",
    )
    retrieval_pool: Path | None = Field(None, description="pool folder of the retrieval generator")


class AnalystSettings(BaseModel):
    """Which failure analyst explains the slices, and how to reach its model."""

    backend: Literal["offline", "qwen", "openai"] = Field(
        "offline",
        description="offline: rules over slice statistics (CPU); qwen: Qwen2.5-VL in this process; "
        "openai: an OpenAI-compatible server (vLLM)",
    )
    model: str = Field("Qwen/Qwen2.5-VL-7B-Instruct", description="hub id or local folder")
    dtype: str = Field("auto", description="torch dtype of the in-process model (qwen)")
    device: str = Field("auto", description="device map of the in-process model (qwen)")
    min_pixels: int = Field(64 * 28 * 28, gt=0, description="fewest pixels an image is scaled to")
    max_pixels: int = Field(512 * 28 * 28, gt=0, description="most pixels an image is scaled to")
    max_new_tokens: int = Field(512, gt=0, description="longest answer, in tokens")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible endpoint")
    api_key: str = Field("EMPTY", description="key sent to the OpenAI-compatible server")
    timeout: float = Field(60.0, gt=0, description="seconds a request to the server may take")
    retries: int = Field(2, ge=0, description="retries of a request that failed or timed out")
    structured_output: bool = Field(
        True, description="ask the server for JSON bound to the answer's schema"
    )
    evidence_images: int = Field(3, ge=1, description="whole scenes shown per slice")
    evidence_crops: int = Field(3, ge=0, description="crops of missed objects shown per slice")


class GeneratorSettings(BaseModel):
    """The diffusers generator: model, sampling, placement and how edits are made."""

    model: str = Field("stabilityai/sd-turbo", description="hub id or local pipeline folder")
    realism: float = Field(
        1.0,
        ge=0,
        le=1,
        description="field-camera degradation rendered from the first cycle (0: clean images; "
        "1: the camera estimated from the field images; measured: doubles the uniform and "
        "targeted arms' net gain on the worst slices, docs: benchmarks); revisions may raise it",
    )
    steps: int = Field(4, ge=1, description="denoising steps")
    guidance: float = Field(0.0, ge=0, description="classifier-free guidance scale")
    dtype: str = Field("float16", description="torch dtype of the pipeline")
    device: str = Field("cuda", description="device of the pipeline")
    cpu_offload: bool = Field(False, description="offload idle pipeline parts to the CPU")
    batch_size: int = Field(4, ge=1, description="images per pipeline call")
    edit_mode: Literal["inpaint", "img2img"] = Field(
        "inpaint", description="how real images are edited: inpainting (boxes kept) or img2img"
    )
    strength: float = Field(0.6, gt=0, le=1, description="how far an edit departs from its source")
    clip_model: str = Field(
        "openai/clip-vit-base-patch32",
        description="CLIP that checks each diffusers image against its prompt (hub id or folder)",
    )
    clip_threshold: float = Field(
        0.2,
        ge=-1,
        le=1,
        description="image-prompt cosine similarity under which an image is dropped",
    )


class LabelerSettings(BaseModel):
    """GroundingDINO + SAM: models, the ontology {prompt: class}, thresholds and label QA."""

    detector_model: str = Field(
        "IDEA-Research/grounding-dino-tiny", description="GroundingDINO (hub id or folder)"
    )
    sam_model: str | None = Field(
        "facebook/sam-vit-base", description="SAM that refines boxes (hub id or folder); None: none"
    )
    ontology: dict[str, str] = Field(
        default_factory=lambda: {"car": "car", "pedestrian": "person", "traffic sign": "sign"},
        description="text prompt -> class it labels",
    )
    box_threshold: float = Field(0.3, ge=0, le=1, description="GroundingDINO's box score cut")
    text_threshold: float = Field(0.25, ge=0, le=1, description="GroundingDINO's text score cut")
    nms_iou: float = Field(0.5, gt=0, le=1, description="IoU of per-class non-maximum suppression")
    device: str = Field("cpu", description="device of both models")
    qa_threshold: float = Field(0.3, ge=0, le=1, description="label quality under which to flag")
