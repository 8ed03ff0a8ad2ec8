"""DiffusersGenerator and GroundedSamLabeler on tiny random models built from configs (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.backends.tiny_models import (
    build_tiny_grounding_dino,
    build_tiny_sam,
    build_tiny_stable_diffusion,
)
from tools.convert import make_detections
from tools.generator.base import GeneratedImage, GenerationRequest
from tools.generator.diffusers_gen import DiffusersGenerator, protect_boxes_mask
from tools.labeler.grounded_sam import (
    GroundedSamLabeler,
    box_from_mask,
    phrase_to_class,
    verify_carried,
)
from tools.world.camera import CameraProfile
from tools.world.layout import distance_factor

CLASSES = ["car", "person", "sign"]
ONTOLOGY = {"car": "car", "pedestrian": "person", "traffic sign": "sign"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    build_tiny_stable_diffusion(root / "sd")
    build_tiny_grounding_dino(root / "dino")
    build_tiny_sam(root / "sam")
    return {"sd": root / "sd", "dino": root / "dino", "sam": root / "sam"}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "field.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (96, 96, 3), np.uint8)).save(path)
    return path


def _generator(models: dict[str, Path], **kwargs) -> DiffusersGenerator:
    return DiffusersGenerator(
        str(models["sd"]),
        steps=2,
        guidance=0.0,
        dtype="float32",
        device="cpu",
        batch_size=2,
        **kwargs,
    )


def test_text_to_image_makes_requested_size_with_recorded_seeds(models, tmp_path) -> None:
    requests = [
        GenerationRequest(
            id=f"r{i}", slice_name="s", prompt="a car at night", conditions={}, seed=10 + i
        )
        for i in range(3)
    ]
    made, failed = _generator(models).generate(requests, tmp_path / "a", 64)
    assert not failed and [m.request_id for m in made] == ["r0", "r1", "r2"]
    assert all(Image.open(m.path).size == (64, 64) for m in made)
    meta = json.loads((tmp_path / "a" / "r1.meta.json").read_text())
    assert meta["seed"] == 11 and meta["mode"] == "generate" and meta["model"] == str(models["sd"])
    again, _ = _generator(models).generate(requests[:1], tmp_path / "b", 64)
    assert np.array_equal(
        np.asarray(Image.open(again[0].path)), np.asarray(Image.open(made[0].path))
    )


def test_images_are_taken_through_the_field_camera_as_asked(models, tmp_path) -> None:
    """Diffusers images go through the estimated field camera like the renderer's (realism)."""
    camera = CameraProfile(noise_sigma=0.0, blur_sigma=1.5, jpeg_quality=90, color_cast=(1, 1, 1))
    request = GenerationRequest(
        id="r.1", slice_name="s", prompt="a car in fog", conditions={}, seed=5, camera=camera
    )
    clean, _ = _generator(models).generate([request], tmp_path / "clean", 64)
    taken, _ = _generator(models).generate(
        [request.model_copy(update={"realism": 1.0})], tmp_path / "field", 64
    )
    assert clean[0].path.name == "r.1.png" and taken[0].path.name == "r.1.jpg"

    def sharpness(path: Path) -> float:  # variance of horizontal differences
        grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
        return float(np.diff(grey, axis=1).var())

    assert sharpness(taken[0].path) < 0.5 * sharpness(clean[0].path)
    assert json.loads((tmp_path / "field" / "r.1.meta.json").read_text())["realism"] == 1.0


@pytest.mark.parametrize("edit_mode", ["inpaint", "img2img"])
def test_edits_carry_the_source_boxes_for_verification(models, source, tmp_path, edit_mode) -> None:
    request = GenerationRequest(
        id="e",
        slice_name="s",
        prompt="a car in fog",
        conditions={},
        seed=3,
        mode="edit",
        source_path=str(source),
        source_sample_id="x",
        source_boxes=[(12.0, 24.0, 48.0, 72.0, "car")],
    )
    made, failed = _generator(models, edit_mode=edit_mode).generate([request], tmp_path, 48)
    assert not failed and Image.open(made[0].path).size == (48, 48)
    carried = json.loads(made[0].carried_path.read_text())
    # The 96 px source is edited at 48 px: carried boxes are scaled with it.
    assert carried["boxes"] == [[6.0, 12.0, 24.0, 36.0]] and carried["classes"] == ["car"]
    assert carried["source_sample_id"] == "x"


def test_an_edit_asked_to_be_far_shrinks_the_image_and_its_boxes_alike(
    models, source, tmp_path
) -> None:
    request = GenerationRequest(
        id="far",
        slice_name="s",
        prompt="a car in fog, seen from far away",
        conditions={"distance": "far"},
        seed=3,
        mode="edit",
        source_path=str(source),
        source_boxes=[(12.0, 24.0, 48.0, 72.0, "car")],
        layout="fit",
    )
    made, failed = _generator(models).generate([request], tmp_path, 48)
    assert not failed and Image.open(made[0].path).size == (48, 48)
    (box,) = json.loads(made[0].carried_path.read_text())["boxes"]
    # At 48 px the box is (6, 12, 24, 36); shrunk about the vanishing point (24, 0.42 * 48) by the
    # image's own rounded scale, 9 px of 48, to the far size.
    factor = distance_factor([(6.0, 12.0, 24.0, 36.0, "car")], "far", 48)
    assert round(48 * factor) == 9
    sx, left, top = 9 / 48, round(24 * (1 - 9 / 48)), round(0.42 * 48 * (1 - 9 / 48))
    assert box == [left + sx * 6, top + sx * 12, left + sx * 24, top + sx * 36]
    assert np.sqrt((box[2] - box[0]) * (box[3] - box[1])) / 48 < 0.12  # reads as far


def test_a_paste_request_paints_its_objects_into_the_photograph_and_claims_them(
    models, tmp_path
) -> None:
    # A 128 x 96 photograph (landscape): the paste keeps its aspect, long side at `size`.
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(60, 200, (96, 128, 3), np.uint8)).save(photo)
    request = GenerationRequest(
        id="p",
        slice_name="class=Platelets",
        prompt="paste 2-2 Platelets into a train image; brightness 40-60",
        conditions={},
        class_focus=["Platelets"],
        seed=5,
        mode="paste",
        source_path=str(photo),
        source_boxes=[(16.0, 16.0, 48.0, 40.0, "RBC")],
        targets={"objects": (2.0, 2.0), "box_size": (0.2, 0.25), "brightness": (40.0, 60.0)},
    )
    made, failed = _generator(models).generate([request], tmp_path / "out", 64)
    assert not failed, failed
    with Image.open(made[0].path) as image:
        assert image.size == (64, 48) and (made[0].width, made[0].height) == (64, 48)
        luma = np.asarray(image.convert("L"), dtype=float).mean()
    carried = json.loads(made[0].carried_path.read_text())
    # The source's box scaled by half, then the two painted objects, all claims to verify.
    assert carried["boxes"][0] == [8.0, 8.0, 24.0, 20.0]
    assert carried["classes"] == ["RBC", "Platelets", "Platelets"]
    sides = [b[2] - b[0] for b in carried["boxes"][1:]]
    assert all(0.2 * 64 <= side <= 0.25 * 64 for side in sides)
    assert 35 <= luma <= 65  # edited toward the asked brightness (luma measured back)


def test_an_edit_without_a_source_fails_alone(models, tmp_path) -> None:
    requests = [
        GenerationRequest(id="ok", slice_name="s", prompt="p", conditions={}, seed=1),
        GenerationRequest(id="bad", slice_name="s", prompt="p", conditions={}, seed=1, mode="edit"),
    ]
    made, failed = _generator(models).generate(requests, tmp_path, 32)
    assert [m.request_id for m in made] == ["ok"] and list(failed) == ["bad"]


def test_inpainting_mask_protects_the_boxes() -> None:
    mask = np.asarray(protect_boxes_mask((20, 20), [(5, 5, 10, 10, "car")], margin=0))
    assert mask[7, 7] == 0 and mask[0, 0] == 255 and mask[15, 15] == 255


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("car", "car"),
        ("pedestrian", "person"),
        ("traffic sign", "sign"),
        ("sign", "sign"),
        ("red car", "car"),
        ("tree", None),
        ("", None),
    ],
)
def test_phrases_map_to_project_classes(phrase, expected) -> None:
    assert phrase_to_class(phrase, ONTOLOGY) == expected


def test_labeler_maps_phrases_applies_classwise_nms_and_drops_unknown() -> None:
    labeler = GroundedSamLabeler(ONTOLOGY, sam_model=None, nms_iou=0.5)
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]], float)
    found = labeler.to_detections(
        boxes, np.array([0.9, 0.8, 0.7, 0.6]), ["car", "car", "pedestrian", "tree"], CLASSES
    )
    # The two overlapping cars merge; the pedestrian at the same place is another class.
    assert found.class_id.tolist() == [0, 1] and found.confidence.tolist() == pytest.approx(
        [0.9, 0.7]
    )


def test_labeler_runs_grounding_dino_and_sam_end_to_end(models, source) -> None:
    labeler = GroundedSamLabeler(
        ONTOLOGY, str(models["dino"]), str(models["sam"]), box_threshold=0.0, text_threshold=0.0
    )
    image = GeneratedImage(request_id="a", path=source, width=96, height=96)
    [labels] = labeler.label([image], CLASSES)
    assert labels is not None and len(labels) > 0
    assert set(labels.class_id.tolist()) <= {0, 1, 2}
    assert (labels.xyxy >= 0).all() and (labels.xyxy <= 96).all()


def test_sam_refines_boxes_to_their_mask_extent(models, source, monkeypatch) -> None:
    import torch

    labeler = GroundedSamLabeler(ONTOLOGY, str(models["dino"]), str(models["sam"]))
    model, _ = labeler._load_sam()
    real_forward = model.forward

    def forward(**inputs):
        outputs = real_forward(**inputs)
        masks = torch.full_like(outputs.pred_masks, -10.0)
        masks[..., 4:8, 2:10] = 10.0  # a known mask in SAM's 16x16 low-res output
        outputs.pred_masks = masks
        return outputs

    monkeypatch.setattr(model, "forward", forward)
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    refined = labeler.refine(image, make_detections(np.array([[0, 0, 96, 96]]), np.array([0])))
    # 16 px of mask per 96 px of image: rows 4..8 -> 24..48, columns 2..10 -> 12..60.
    x0, y0, x1, y1 = refined.xyxy[0]
    assert (x0, y0) == pytest.approx((12, 24), abs=4) and (x1, y1) == pytest.approx((60, 48), abs=4)


def test_verification_keeps_carried_boxes_found_again_and_counts_the_rest() -> None:
    carried = make_detections(
        np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]]), np.array([0, 1, 2])
    )
    found = make_detections(np.array([[1, 1, 10, 10], [20, 20, 30, 30]]), np.array([0, 2]))
    kept, dropped = verify_carried(carried, found)
    assert kept.xyxy.tolist() == [[0, 0, 10, 10]] and dropped == 2
    assert box_from_mask(np.zeros((4, 4), bool)) is None
