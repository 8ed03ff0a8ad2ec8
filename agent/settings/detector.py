"""Settings of the detector: how it is built, trained and its predictions judged."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class DetectorSettings(BaseModel):
    """How the detector is built and trained."""

    backend: Literal["ultralytics"] = Field("ultralytics", description="detector library")
    model: str = Field(
        "yolov8n.yaml",
        description="model yaml (trained from scratch) or your own YOLOv8 detection weights (a "
        ".pt path, relative to the workspace or absolute): the baseline trains from them, each "
        "class the weights know by name keeping its own class channels (ultralytics' remap, any "
        "number of classes); the others start fresh",
    )
    epochs: int = Field(30, ge=1, description="epochs of the baseline training")
    finetune_epochs: int = Field(12, ge=1, description="most epochs of a cycle's fine-tuning")
    # 6000 against 9000 passes on the default world's three seeds (budget 300 in 2 cycles, same
    # baselines): arms 125-149 s against 147-215 s; targeted's net gain over `none` on the two
    # worst slices +0.059 / +0.049 (gated / last candidate) against +0.040 / +0.050, uniform's
    # +0.035 / +0.020 against +0.019 / +0.025. 4500 lost recall in every arm (seed 0).
    finetune_images: int | None = Field(
        6000,
        ge=1,
        description="image passes per fine-tune, the same every cycle however large the data "
        "grows: epochs = passes / training images (at least 1, at most finetune_epochs); "
        "None: always finetune_epochs",
    )
    finetune_lr: float = Field(
        0.0005,
        gt=0,
        description="AdamW's initial rate when fine-tuning the incumbent (from scratch: 0.002)",
    )
    imgsz: int = Field(160, ge=32, description="image size: rendering and the images' long side")
    input_scale: int = Field(
        1,
        ge=1,
        description="the network sees images at imgsz x this (2: a 9 px wide person spans two "
        "stride-8 cells instead of one); training and prediction cost about its square",
    )
    batch: int = Field(16, ge=1, description="16 beat 32 and 8 on test mAP50 at 30 epochs (0.574)")
    nominal_batch: int = Field(
        16,
        ge=1,
        description="images per optimizer step (ultralytics' nbs; gradients accumulate over "
        "nominal_batch / batch batches); ultralytics' 64 left the 30-epoch baseline 285 steps "
        "and a test mAP50 of 0.55-0.60 against 0.66-0.67 with 16 (seeds 0-2; docs: performance)",
    )
    workers: int = Field(2, ge=0, description="dataloader worker processes on a GPU")
    cpu_workers: int = Field(
        0, ge=0, description="... on a CPU, where they compete with training for the same cores"
    )
    threads: int | None = Field(
        None, ge=1, description="cap on torch's CPU threads; default: every core available"
    )
    cache: bool = Field(
        False,
        description="keep decoded training images in memory (measured: 1.66x vs 1.65x without, "
        "within noise at 160 px; ultralytics then prints its own caching bar)",
    )
    cpu_precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="CPU training precision; bf16: bfloat16 autocast with the loss in float32 "
        "(1.2-1.4x faster where the CPU computes it natively, AMX or AVX-512 BF16; test mAP50 as "
        "float32's over paired seeds; docs: performance), auto: bf16 where native, else fp32",
    )
    cpu_channels_last: bool = Field(
        True,
        description="CPU training with the weights in channels-last memory, which ultralytics "
        "enables on CUDA only (measured 1.17x faster forward and backward passes in bfloat16, "
        "1.07x in float32, YOLOv8n at 160 px on 2 cores)",
    )
    seed: int = Field(0, description="training seed (ultralytics' own)")
    device: str = Field("cpu", description="'cpu', '0', 'cuda:0', ...")
    predict_conf: float = Field(0.05, gt=0, lt=1, description="lowest confidence stored")
    machine_lock: Path | None = Field(
        Path(tempfile.gettempdir()) / "failforge-detector.lock",
        description="lock file on which the trainings and predictions of every failforge on "
        "this machine take turns (two at once oversubscribe the cores); null: run beside them",
    )


class EvaluationSettings(BaseModel):
    """How predictions are judged."""

    conf_threshold: float = Field(0.25, gt=0, lt=1, description="confidence for recall/precision")
    iou: float = Field(0.5, gt=0, lt=1, description="IoU for a match in recall/precision")
