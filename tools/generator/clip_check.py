"""Image-text agreement with CLIP: the filter published synthetic-data pipelines put after generation."""

from __future__ import annotations

from typing import Any

from tools.generator.check import CheckItem, RequestCheck


class ClipRequestChecker:
    """Cosine similarity of CLIP's image and text embeddings; under `threshold`, not as asked."""

    name = "clip"
    drops = True

    def __init__(self, model: str, threshold: float, device: str = "cpu", batch_size: int = 16):
        self.model_id = model
        self.threshold = threshold
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._processor: Any = None

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import CLIPModel, CLIPProcessor

            self._model = CLIPModel.from_pretrained(self.model_id)
            self._model.to(self.device).eval()
            self._processor = CLIPProcessor.from_pretrained(self.model_id)
        return self._model, self._processor

    def similarities(self, paths: list[str], prompts: list[str]) -> list[float]:
        """CLIP cosine similarity of each image with its own prompt."""
        import torch
        from PIL import Image

        model, processor = self._load()
        out: list[float] = []
        for start in range(0, len(paths), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            images = [Image.open(p).convert("RGB") for p in paths[chunk]]
            inputs = processor(
                text=prompts[chunk],
                images=images,
                return_tensors="pt",
                padding=True,
                truncation=True,
            ).to(self.device)
            with torch.no_grad():
                outputs = model(**inputs)
            # CLIPModel's forward returns both embeddings already normalised.
            image, text = outputs.image_embeds, outputs.text_embeds
            out += (image * text).sum(dim=-1).tolist()
        return out

    def check(self, items: list[CheckItem]) -> list[RequestCheck]:
        scores = self.similarities([i.path for i in items], [i.prompt for i in items])
        return [
            RequestCheck(
                score=s,
                as_asked=s >= self.threshold,
                unmet=[] if s >= self.threshold else ["prompt"],
            )
            for s in scores
        ]
