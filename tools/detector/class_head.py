"""A user's own YOLOv8 weights lined up with a workspace's classes: class channels follow their names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def align_class_head(detection_model: Any, classes: Sequence[str]) -> str:
    """Reorder the classification outputs of `detection_model` (an ultralytics DetectionModel)
    so that each of `classes` keeps the channel its own weights learnt for that name; returns
    what was done, in one sentence for the log.

    ultralytics copies every weight whose shape matches into the model it trains, by position:
    weights trained on [RBC, WBC] would start a workspace's [WBC, RBC] with each class's
    channel swapped. With the same number of classes the channels are permuted by name (names
    the weights do not know take the channels left over); with another number ultralytics
    re-learns the class layer from scratch, and nothing is done here.
    """
    import torch

    own = [str(detection_model.names[k]) for k in sorted(detection_model.names)]
    wanted = [str(c) for c in classes]
    if own == wanted:
        return f"the weights' classes are the workspace's ({', '.join(wanted)})"
    if len(own) != len(wanted):
        return (
            f"the weights know {len(own)} classes and the workspace {len(wanted)}: "
            "ultralytics learns the class layer afresh"
        )
    order = [own.index(name) if name in own else None for name in wanted]
    spare = iter(k for k in range(len(own)) if k not in order)
    permutation = [k if k is not None else next(spare) for k in order]
    detect = detection_model.model[-1]
    heads = [detect.cv3, *([detect.one2one_cv3] if getattr(detect, "one2one_cv3", None) else [])]
    with torch.no_grad():
        for branch in heads:
            for sequence in branch:
                layer = sequence[-1]  # Conv2d(channels, classes, 1): one output per class
                layer.weight.copy_(layer.weight[permutation].clone())
                layer.bias.copy_(layer.bias[permutation].clone())
    detection_model.names = dict(enumerate(wanted))
    kept = [name for name in wanted if name in own]
    return f"class channels reordered by name; kept for {', '.join(kept) or 'none'}" + (
        f", reused for {', '.join(n for n in wanted if n not in own)}"
        if len(kept) < len(wanted)
        else ""
    )
