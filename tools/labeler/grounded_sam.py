"""GroundedSamLabeler: GroundingDINO finds boxes from an ontology of prompts, SAM tightens each from its mask."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import supervision as sv
from PIL import Image

from tools.convert import class_ids, empty_detections, make_detections
from tools.generator.base import GeneratedImage
from tools.labeler.base import Label, LabelFailure


def phrase_to_class(phrase: str, ontology: Mapping[str, str]) -> str | None:
    """The project class of a GroundingDINO phrase: an exact prompt, else the longest prompt in it."""
    phrase = phrase.strip().lower()
    if phrase in ontology:
        return ontology[phrase]
    matches = [p for p in ontology if p in phrase or (phrase and phrase in p)]
    return ontology[max(matches, key=len)] if matches else None


def box_from_mask(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def classwise_nms(detections: sv.Detections, iou: float) -> sv.Detections:
    if len(detections) == 0:
        return detections
    import torch
    from torchvision.ops import batched_nms

    keep = batched_nms(
        torch.as_tensor(detections.xyxy, dtype=torch.float32),
        torch.as_tensor(detections.confidence, dtype=torch.float32),
        torch.as_tensor(class_ids(detections)),
        iou,
    ).numpy()
    keep = np.sort(keep)
    return make_detections(
        detections.xyxy[keep], class_ids(detections)[keep], np.asarray(detections.confidence)[keep]
    )


def verify_carried(
    carried: sv.Detections, found: sv.Detections, iou: float = 0.5
) -> tuple[sv.Detections, int]:
    """Keep the carried boxes that the labeler finds again (same class, IoU >= iou); count the rest."""
    if len(carried) == 0:
        return carried, 0
    if len(found) == 0:
        return empty_detections(), len(carried)
    overlaps = sv.box_iou_batch(carried.xyxy, found.xyxy)
    same = class_ids(carried)[:, None] == class_ids(found)[None, :]
    ok = ((overlaps >= iou) & same).any(axis=1)
    return make_detections(carried.xyxy[ok], class_ids(carried)[ok]), int((~ok).sum())


class GroundedSamLabeler:
    """Zero-shot labels in the project's classes; weights load on first use."""

    name = "grounded-sam"
    exact = False

    def __init__(
        self,
        ontology: Mapping[str, str],
        detector_model: str = "IDEA-Research/grounding-dino-tiny",
        sam_model: str | None = "facebook/sam-vit-base",
        box_threshold: float = 0.3,
        text_threshold: float = 0.25,
        nms_iou: float = 0.5,
        device: str = "cpu",
    ) -> None:
        self.ontology = {k.lower(): v for k, v in ontology.items()}
        self.detector_model = detector_model
        self.sam_model = sam_model
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold
        self.nms_iou = nms_iou
        self.device = device
        self._dino: tuple[Any, Any] | None = None
        self._sam: tuple[Any, Any] | None = None
        # Weights that failed to load fail every later image the same way, without a new try.
        self._load_errors: dict[str, OSError] = {}

    def _weights(self, setting: str, model: str, load: Any) -> tuple[Any, Any]:
        if setting in self._load_errors:
            raise self._load_errors[setting]
        try:
            return load()
        except OSError as error:  # missing or unreadable weights: name the setting to fix
            self._load_errors[setting] = OSError(
                f"cannot load labeler.{setting} '{model}': {str(error).splitlines()[0]}"
            )
            raise self._load_errors[setting] from None

    def _load_dino(self) -> tuple[Any, Any]:
        if self._dino is None:
            from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

            def load() -> tuple[Any, Any]:
                model = AutoModelForZeroShotObjectDetection.from_pretrained(self.detector_model)
                processor = AutoProcessor.from_pretrained(self.detector_model)
                return model.to(self.device).eval(), processor

            self._dino = self._weights("detector_model", self.detector_model, load)
        return self._dino

    def _load_sam(self) -> tuple[Any, Any]:
        if self._sam is None:
            from transformers import SamModel, SamProcessor

            assert self.sam_model is not None
            sam_model = self.sam_model

            def load() -> tuple[Any, Any]:
                model: Any = SamModel.from_pretrained(sam_model)
                return model.to(self.device).eval(), SamProcessor.from_pretrained(sam_model)

            self._sam = self._weights("sam_model", sam_model, load)
        return self._sam

    def prompt(self) -> str:
        """GroundingDINO's text: lower-case prompts, each ending with a dot."""
        return " ".join(f"{p}." for p in self.ontology)

    def detect(self, image: Image.Image, classes: Sequence[str]) -> sv.Detections:
        """Boxes for every ontology prompt, mapped to project class ids, class-wise NMS applied."""
        import torch

        model, processor = self._load_dino()
        inputs = processor(images=image, text=self.prompt(), return_tensors="pt").to(self.device)
        with torch.inference_mode():
            outputs = model(**inputs)
        result = processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=self.box_threshold,
            text_threshold=self.text_threshold,
            target_sizes=[(image.height, image.width)],
        )[0]
        phrases = result["text_labels"] if "text_labels" in result else result["labels"]
        return self.to_detections(
            result["boxes"].cpu().numpy(),
            result["scores"].cpu().numpy(),
            [str(p) for p in phrases],
            classes,
        )

    def to_detections(
        self, boxes: np.ndarray, scores: np.ndarray, phrases: Sequence[str], classes: Sequence[str]
    ) -> sv.Detections:
        kept_boxes, kept_ids, kept_scores = [], [], []
        for box, score, phrase in zip(boxes, scores, phrases, strict=True):
            cls = phrase_to_class(phrase, self.ontology)
            if cls is None or cls not in classes:
                continue
            kept_boxes.append(box)
            kept_ids.append(list(classes).index(cls))
            kept_scores.append(score)
        if not kept_boxes:
            return empty_detections()
        found = make_detections(np.array(kept_boxes), np.array(kept_ids), np.array(kept_scores))
        return classwise_nms(found, self.nms_iou)

    def refine(self, image: Image.Image, detections: sv.Detections) -> sv.Detections:
        """SAM masks from the boxes; each box becomes its mask's extent (kept if the mask is empty)."""
        if self.sam_model is None or len(detections) == 0:
            return detections
        import torch

        model, processor = self._load_sam()
        inputs = processor(
            images=image, input_boxes=[detections.xyxy.tolist()], return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            outputs = model(**inputs, multimask_output=False)
        masks = processor.image_processor.post_process_masks(
            outputs.pred_masks.cpu(),
            inputs["original_sizes"].cpu(),
            inputs["reshaped_input_sizes"].cpu(),
        )[0].numpy()
        boxes = detections.xyxy.copy()
        for k in range(len(boxes)):
            tight = box_from_mask(masks[k].reshape(-1, *masks.shape[-2:])[0])
            if tight is not None:
                boxes[k] = tight
        return make_detections(boxes, class_ids(detections), detections.confidence)

    def label(self, images: Sequence[GeneratedImage], classes: Sequence[str]) -> list[Label]:
        labels: list[Label] = []
        for generated in images:
            try:
                with Image.open(generated.path) as opened:
                    image = opened.convert("RGB")
                found = self.refine(image, self.detect(image, classes))
                if generated.carried_path is not None and generated.carried_path.is_file():
                    carried = json.loads(generated.carried_path.read_text())
                    claimed = make_detections(
                        np.array(carried["boxes"]).reshape(-1, 4),
                        np.array([list(classes).index(c) for c in carried["classes"]]),
                    )
                    found, dropped = verify_carried(claimed, found)
                    generated.carried_dropped = dropped
                labels.append(found)
            except Exception as error:  # dropped by the loop, with this reason on record
                labels.append(LabelFailure.of(error))
        return labels
