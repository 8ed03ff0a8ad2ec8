"""Pure parsing of a vision-language model's answer: find the JSON, repair it, validate it, rescale boxes."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from tools.analyst.base import ATTRIBUTE_BINS, MEASURED_ATTRIBUTES, SceneConditions

FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.DOTALL)


class Region(BaseModel):
    """A box the model points at: Qwen2.5-VL's `bbox_2d` (x1, y1, x2, y2) and a label."""

    bbox_2d: tuple[float, float, float, float]
    label: str = ""


class SliceAnswer(BaseModel):
    """What the analyst must answer for one failure slice (the JSON schema sent to the model)."""

    what_fails: str = Field(min_length=1)
    why: str = Field(min_length=1)
    conditions: SceneConditions = Field(default_factory=SceneConditions)
    attributes: dict[str, str] = Field(
        default_factory=dict, description="measured attribute -> bin, for a user's photographs"
    )
    classes: list[str] = Field(default_factory=list)
    confidence: float = Field(ge=0, le=1)
    suggested_prompts: list[str] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)


class AnswerError(ValueError):
    """The model's text could not be turned into a SliceAnswer; the message says why."""


def extract_json_text(text: str) -> str:
    """The JSON part of a model's reply: inside a code fence if there is one, else from the first
    brace to the last (prose before and after is dropped); a truncated object runs to the end."""
    fenced = FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("{")
    if start < 0:
        raise AnswerError("no JSON object in the answer")
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(body)):
        char = body[index]
        if in_string:
            if char == '"' and not escaped:
                in_string = False
            escaped = char == "\\" and not escaped
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return body[start : index + 1]
    return body[start:]  # truncated: json-repair closes what is still open


def parse_answer(text: str, classes: Sequence[str]) -> SliceAnswer:
    """Extract, repair (json-repair), and validate; unknown classes are dropped, not fatal."""
    import json_repair

    raw = extract_json_text(text)
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError:
        data = json_repair.loads(raw)
    if not isinstance(data, dict):
        raise AnswerError("the answer's JSON is not an object")
    if isinstance(data.get("classes"), list):
        data["classes"] = [c for c in data["classes"] if c in classes]
    if isinstance(data.get("conditions"), dict):
        data["conditions"] = {k: v for k, v in data["conditions"].items() if v not in ("", "none")}
    if isinstance(data.get("attributes"), dict):
        # Only attributes discovery measures, in its bins: anything else cannot aim an image.
        data["attributes"] = {
            str(k): str(v)
            for k, v in data["attributes"].items()
            if k in MEASURED_ATTRIBUTES and v in ATTRIBUTE_BINS
        }
    try:
        return SliceAnswer.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise AnswerError(problems) from error


def rescale_box(
    box: Sequence[float], input_wh: tuple[int, int], original_wh: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Qwen2.5-VL boxes are absolute pixels of the resized input: map them to the original, clipped."""
    sx = original_wh[0] / input_wh[0]
    sy = original_wh[1] / input_wh[1]
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = sorted((x1 * sx, x2 * sx))
    y1, y2 = sorted((y1 * sy, y2 * sy))
    clip_x = lambda v: min(max(v, 0.0), float(original_wh[0]))  # noqa: E731
    clip_y = lambda v: min(max(v, 0.0), float(original_wh[1]))  # noqa: E731
    return clip_x(x1), clip_y(y1), clip_x(x2), clip_y(y2)


def answer_schema() -> dict[str, Any]:
    """JSON schema of SliceAnswer, for servers that support structured output."""
    return SliceAnswer.model_json_schema()
