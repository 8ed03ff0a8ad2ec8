"""The field camera of a workspace, estimated once from its training images and kept beside them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from evaluation.field_conditions import estimate_image_conditions
from storage.workspace import Workspace
from tools.files import write_text_whole
from tools.generator.camera_fit import clean_renders, fit_camera
from tools.world.camera import CameraProfile

if TYPE_CHECKING:
    from agent.ports import Deps

CAMERA_FILE = Workspace.CAMERA_NAME


def field_camera(deps: Deps, images: int = 32) -> CameraProfile:
    """Blur, noise, JPEG quality and colour cast of the field camera, read off `train` images
    (estimated conditions, never world truth); computed once, then read from the workspace."""
    path = deps.workspace.camera_file
    if path.is_file():
        return CameraProfile.model_validate_json(path.read_text())
    camera = estimate_field_camera(deps, images)
    write_text_whole(path, camera.model_dump_json())  # a killed process leaves no half estimate
    return camera


def estimate_field_camera(deps: Deps, images: int = 32) -> CameraProfile:
    """The estimate itself, from `images` labelled `train` images; stores nothing."""
    view = deps.datasets.split("train")
    samples = deps.datasets.samples(view)
    labels = deps.datasets.labels(view)
    rng = np.random.default_rng(deps.settings.detector.seed)
    chosen = [k for k in rng.permutation(len(samples)) if len(labels[k])][:images]
    field, conditions = [], []
    for k in chosen:
        sample = samples[k]
        with Image.open(sample.path) as image:
            field.append(np.asarray(image.convert("RGB")))
        conditions.append(
            estimate_image_conditions(str(sample.path), sample.longest_side, labels[k])
        )
    return fit_camera(field, clean_renders(conditions, deps.settings.detector.imgsz))
