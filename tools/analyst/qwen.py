"""QwenVlAnalyst: Qwen2.5-VL in-process with transformers and qwen-vl-utils; weights load on first use."""

from __future__ import annotations

from typing import Any

from tools.analyst.base import FailureAnalysis, SliceEvidence
from tools.analyst.prompting import qwen_messages
from tools.analyst.robust import analyze_robustly


class QwenVlAnalyst:
    """Runs `model` (a hub id or a local folder) with transformers; nothing loads until asked."""

    name = "qwen"

    def __init__(
        self,
        model: str,
        dtype: str = "auto",
        device: str = "auto",
        min_pixels: int = 64 * 28 * 28,
        max_pixels: int = 512 * 28 * 28,
        max_new_tokens: int = 512,
    ) -> None:
        self.model_id = model
        self.dtype = dtype
        self.device = device
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self.max_new_tokens = max_new_tokens
        self._model: Any = None
        self._processor: Any = None

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

            self._model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
                self.model_id,
                dtype=self.dtype,
                device_map=None if self.device == "cpu" else self.device,
            )
            self._model.eval()
            self._processor = AutoProcessor.from_pretrained(
                self.model_id,
                size={"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels},
            )
        return self._model, self._processor

    def generate(self, messages: list[dict[str, Any]]) -> tuple[str, tuple[int, int] | None]:
        """The model's reply to `messages`, and the size of the first image as the model saw it."""
        import torch
        from qwen_vl_utils import process_vision_info

        model, processor = self._load()
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        images, videos = process_vision_info(messages)
        inputs = processor(
            text=[text], images=images, videos=videos, padding=True, return_tensors="pt"
        ).to(model.device)
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        reply = processor.batch_decode(
            output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )[0]
        # qwen-vl-utils resized the image (smart_resize); its boxes are in those pixels.
        return reply, (images[0].size if images else None)

    def analyze(self, slices: list[SliceEvidence], classes: list[str]) -> FailureAnalysis:
        return analyze_robustly(
            self.name,
            slices,
            classes,
            lambda e, c: self.generate(
                qwen_messages(e, classes, c, self.min_pixels, self.max_pixels)
            ),
        )
