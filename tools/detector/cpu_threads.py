"""How many CPU threads torch may use: every core this process may run on, unless capped."""

from __future__ import annotations

import os


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def torch_threads(cap: int | None) -> int:
    """Threads for torch's intra-op pool: all available cores, at most `cap` when one is set."""
    cores = available_cores()
    return cores if cap is None else max(1, min(cap, cores))


def use_threads(count: int) -> None:
    """Set torch's intra-op thread count (what ultralytics' CPU device selection overrides)."""
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
