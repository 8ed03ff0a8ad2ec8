"""bfloat16 mixed precision for CPU training, where the CPU computes bfloat16 natively (AMX, AVX-512 BF16)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any, Literal

Precision = Literal["auto", "fp32", "bf16"]


def native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (emulated bf16 would be slower)."""
    import torch

    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def cpu_training_precision(setting: Precision) -> Literal["fp32", "bf16"]:
    """What `auto` means on this CPU: bf16 where it is native, else fp32."""
    if setting == "auto":
        return "bf16" if native_bf16() else "fp32"
    return setting


@lru_cache(maxsize=1)
def allow_cpu_bf16_autocast() -> None:
    """Let ultralytics' trainer autocast to bfloat16 on the CPU.

    ultralytics accepts `amp="bf16"` but its autocast helper raises unless the device is CUDA.
    torch's own CPU autocast supports bfloat16, so the trainer's helper is wrapped to use it for
    that one case and to defer to ultralytics for every other (GPU runs are unchanged).
    """
    import torch
    from ultralytics.engine import trainer

    original = trainer.autocast

    def autocast(enabled: bool | torch.dtype, device: str = "cuda") -> AbstractContextManager[Any]:
        if device == "cpu" and enabled is torch.bfloat16:
            return torch.amp.autocast("cpu", dtype=torch.bfloat16)
        return original(enabled, device=device)

    trainer.autocast = autocast


class Float32Loss:
    """A detection loss run in float32 outside autocast, on float32 copies of bfloat16 outputs.

    bfloat16 keeps 8 bits of mantissa: enough for convolutions, too coarse for the IoU and
    distribution-focal terms of box regression, so only the network runs in bfloat16.
    """

    def __init__(self, criterion: Any) -> None:
        self.criterion = criterion

    def __call__(self, preds: Any, batch: Any) -> Any:
        import torch

        with torch.autocast("cpu", enabled=False):
            return self.criterion(_as_float32(preds), batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.criterion, name)


def _as_float32(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype == torch.bfloat16 else value
    if isinstance(value, dict):
        return {k: _as_float32(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_as_float32(v) for v in value)
    return value


def use_float32_loss(trainer: Any) -> None:
    """Trainer callback (on_train_start): the model's loss runs in float32 from the first batch."""
    from ultralytics.utils.torch_utils import unwrap_model

    model: Any = unwrap_model(trainer.model)
    model.criterion = Float32Loss(model.init_criterion())
