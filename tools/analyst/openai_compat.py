"""OpenAICompatAnalyst: any OpenAI-compatible server (vLLM, SGLang) serving a vision-language model."""

from __future__ import annotations

from typing import Any

from PIL import Image

from tools.analyst.base import FailureAnalysis, SliceEvidence
from tools.analyst.parsing import answer_schema
from tools.analyst.prompting import openai_messages
from tools.analyst.robust import analyze_robustly


class OpenAICompatAnalyst:
    """Asks `model` at `base_url` for a JSON answer per slice (structured output where supported)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "EMPTY",
        timeout: float = 60.0,
        retries: int = 2,
        structured_output: bool = True,
        max_tokens: int = 768,
        min_pixels: int = 4 * 28 * 28,
        max_pixels: int = 16384 * 28 * 28,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.structured_output = structured_output
        self.max_tokens = max_tokens
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self._client: Any = None

    def _chat(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            # The client retries timeouts, connection errors and 5xx with exponential backoff.
            self._client = OpenAI(
                base_url=self.base_url,
                api_key=self.api_key,
                timeout=self.timeout,
                max_retries=self.retries,
            )
        return self._client

    def ask(
        self, evidence: SliceEvidence, classes: list[str], correction: str | None
    ) -> tuple[str, tuple[int, int] | None]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": openai_messages(evidence, classes, correction),
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
        }
        if self.structured_output:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "slice_answer", "schema": answer_schema()},
            }
        response = self._chat().chat.completions.create(**request)
        text = response.choices[0].message.content or ""
        return text, self.input_size(evidence)

    def input_size(self, evidence: SliceEvidence) -> tuple[int, int] | None:
        """The first image's size as the served Qwen2.5-VL sees it: its processor resizes every
        image to multiples of 28 within [min_pixels, max_pixels], and boxes come back in that."""
        if not evidence.example_paths:
            return None
        from qwen_vl_utils import smart_resize

        with Image.open(evidence.example_paths[0]) as image:
            width, height = image.size
        resized_h, resized_w = smart_resize(
            height, width, factor=28, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )
        return resized_w, resized_h

    def analyze(self, slices: list[SliceEvidence], classes: list[str]) -> FailureAnalysis:
        return analyze_robustly(self.name, slices, classes, lambda e, c: self.ask(e, classes, c))
