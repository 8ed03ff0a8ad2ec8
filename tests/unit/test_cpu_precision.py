"""CPU bfloat16 training: the network may run in bfloat16, the loss always runs in float32."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tools.detector.cpu_precision import Float32Loss, cpu_training_precision, native_bf16


def test_the_loss_sees_float32_outside_autocast() -> None:
    seen: dict[str, Any] = {}

    def criterion(preds: Any, batch: Any) -> torch.Tensor:
        seen["dtypes"] = {k: v.dtype for k, v in preds["boxes"].items()} | {
            "scores": preds["scores"][0].dtype
        }
        seen["autocast"] = torch.is_autocast_enabled("cpu")
        seen["batch"] = batch
        return preds["scores"][0].sum()

    loss = Float32Loss(criterion)
    preds = {
        "boxes": {"xy": torch.ones(2, dtype=torch.bfloat16), "ids": torch.arange(2)},
        "scores": (torch.ones(3, dtype=torch.bfloat16),),
    }
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(preds, {"cls": 1})
    assert seen["dtypes"] == {"xy": torch.float32, "ids": torch.int64, "scores": torch.float32}
    assert seen["autocast"] is False
    assert seen["batch"] == {"cls": 1}
    assert value.dtype == torch.float32 and float(value) == 3.0


def test_the_wrapped_loss_keeps_the_criterion_attributes() -> None:
    class Criterion:
        def __init__(self) -> None:
            self.hyp = {"box": 7.5}

        def __call__(self, preds: Any, batch: Any) -> None:
            return None

    assert Float32Loss(Criterion()).hyp == {"box": 7.5}


@pytest.mark.parametrize("setting", ["fp32", "bf16"])
def test_an_explicit_precision_is_kept(setting: str) -> None:
    assert cpu_training_precision(setting) == setting  # type: ignore[arg-type]


def test_auto_follows_the_cpu() -> None:
    assert cpu_training_precision("auto") == ("bf16" if native_bf16() else "fp32")
