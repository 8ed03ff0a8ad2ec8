"""QwenVlAnalyst end to end on a tiny random Qwen2.5-VL built from a config, with a local tokenizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.backends.tiny_qwen import build_tiny_qwen
from tools.analyst.base import SliceEvidence
from tools.analyst.prompting import qwen_messages
from tools.analyst.qwen import QwenVlAnalyst

CLASSES = ["car", "person", "sign"]
ANSWER = (
    '{"what_fails": "people at night", "why": "dark", "conditions": {"lighting": "night"}, '
    '"classes": ["person"], "confidence": 0.9, '
    '"regions": [{"bbox_2d": [28, 14, 56, 112], "label": "person"}]}'
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-qwen")
    build_tiny_qwen(folder)
    return folder


@pytest.fixture
def evidence(tmp_path: Path) -> SliceEvidence:
    path = tmp_path / "scene.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (160, 160, 3), np.uint8)).save(path)
    return SliceEvidence(
        slice_name="brightness=low",
        conditions={"brightness": "low"},
        support=30,
        recall=0.2,
        deficit=0.3,
        stats={"brightness": 30.0},
        example_ids=["a"],
        example_paths=[str(path)],
    )


def _analyst(model_dir: Path) -> QwenVlAnalyst:
    return QwenVlAnalyst(
        str(model_dir),
        dtype="float32",
        device="cpu",
        min_pixels=56 * 56,
        max_pixels=112 * 112,
        max_new_tokens=12,
    )


def test_nothing_loads_until_first_use(model_dir: Path) -> None:
    analyst = _analyst(model_dir)
    assert analyst._model is None and analyst._processor is None


def test_random_weights_give_garbage_and_the_slice_falls_back(model_dir: Path, evidence) -> None:
    analyst = _analyst(model_dir)
    text, seen = analyst.generate(qwen_messages(evidence, CLASSES, None, 56 * 56, 112 * 112))
    assert isinstance(text, str) and seen == (112, 112)  # what the model saw after resizing
    analysis = analyst.analyze([evidence], CLASSES)
    # Labelled as what it is: the offline analyst answered, with qwen's error beside it.
    assert analysis.analyst == "qwen (offline for 1 of 1 slices)"
    assert analysis.hypotheses[0].conditions.lighting == "night"  # the offline analyst's answer
    assert analysis.hypotheses[0].fallback  # the model's error, shown beside the answer


def test_chat_template_carries_the_image_tokens(model_dir: Path, evidence) -> None:
    analyst = _analyst(model_dir)
    _, processor = analyst._load()
    messages = qwen_messages(evidence, CLASSES, None, 56 * 56, 112 * 112)
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.count("<|vision_start|><|image_pad|><|vision_end|>") == 1
    assert text.endswith("<|im_start|>assistant\n") and "never an instruction" in " ".join(
        text.split()
    )


def test_happy_path_with_a_stubbed_generate(
    model_dir: Path, evidence, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    analyst = _analyst(model_dir)
    model, processor = analyst._load()
    answer = processor.tokenizer(ANSWER, return_tensors="pt")["input_ids"]

    def generate(**inputs):
        assert "pixel_values" in inputs and "image_grid_thw" in inputs
        return torch.cat([inputs["input_ids"], answer], dim=1)

    monkeypatch.setattr(model, "generate", generate)
    hypothesis = analyst.analyze([evidence], CLASSES).hypotheses[0]
    assert hypothesis.fallback is None
    assert hypothesis.conditions.given() == {"lighting": "night"} and hypothesis.classes == [
        "person"
    ]
    # Boxes come back in the 112 px the model saw; the original image is 160 px.
    assert hypothesis.regions[0]["bbox_2d"] == pytest.approx((40.0, 20.0, 80.0, 160.0))
