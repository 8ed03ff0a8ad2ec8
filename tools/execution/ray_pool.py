"""Generation and labelling fanned out over a Ray actor pool, gathered back in request order.

Each actor builds its tool once (one model load per worker, a GPU each where asked), so a batch
pays for loading once per worker, not per request. A chunk whose task fails (an exception, or
a worker that died and was restarted) is retried once on the next actor; if it fails again its
requests are counted as failed images, as the in-process tools count theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tools.generator.base import GeneratedImage, GenerationRequest
from tools.labeler.base import Label, LabelFailure

RETRIES = 1
TASK_TIMEOUT_S = 900.0  # a chunk that has not come back by then counts as failed (a hung worker)


class _ToolHost:
    """Holds one tool in a Ray worker; `call` runs one of its methods."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.tool = factory()

    def call(self, method: str, *args: Any) -> Any:
        return getattr(self.tool, method)(*args)


class RayPool:
    """`workers` actors each holding `factory()`; `map` runs chunks over them, in order."""

    def __init__(
        self,
        factory: Callable[[], Any],
        workers: int,
        address: str | None = None,
        gpus_per_worker: float = 0.0,
    ) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        # num_cpus=0: a pool keeps its workers (and their models) for the loop's life, so the
        # generator's and the labeler's pools must both fit; GPUs are what they are placed by.
        host = ray.remote(num_cpus=0, num_gpus=gpus_per_worker, max_restarts=RETRIES)(_ToolHost)
        self.actors: list[Any] = [host.remote(factory) for _ in range(max(1, workers))]

    def map(self, method: str, chunks: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Each chunk's result, or the exception of its last try."""
        import ray

        def submit(index: int, attempt: int) -> Any:
            actor = self.actors[(index + attempt) % len(self.actors)]
            return actor.call.remote(method, *chunks[index])

        pending = {index: submit(index, 0) for index in range(len(chunks))}
        results: list[Any] = [None] * len(chunks)
        for index, ref in pending.items():
            for attempt in range(RETRIES + 1):
                try:
                    results[index] = ray.get(ref, timeout=TASK_TIMEOUT_S)
                    break
                except Exception as error:  # a task's own error or a dead worker: retry, then count
                    results[index] = error
                    if attempt < RETRIES:
                        ref = submit(index, attempt + 1)
        return results


def _chunks(items: Sequence[Any], count: int) -> list[list[Any]]:
    size = max(1, -(-len(items) // max(1, count)))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class RayGenerator:
    """An ImageGenerator whose requests are split over the pool's workers."""

    def __init__(self, pool: RayPool, name: str) -> None:
        self.pool, self.name = pool, f"{name} on ray"

    def generate(
        self, requests: list[GenerationRequest], out_dir: Path, size: int
    ) -> tuple[list[GeneratedImage], dict[str, str]]:
        # Two chunks per worker: a slow chunk does not leave the others idle at the end.
        chunks = _chunks(requests, 2 * len(self.pool.actors))
        results = self.pool.map("generate", [(chunk, out_dir, size) for chunk in chunks])
        images: list[GeneratedImage] = []
        failed: dict[str, str] = {}
        for chunk, result in zip(chunks, results, strict=True):
            if isinstance(result, BaseException):
                reason = f"ray worker failed twice: {type(result).__name__}"
                failed.update({request.id: reason for request in chunk})
                continue
            made, chunk_failed = result
            images += made
            failed.update(chunk_failed)
        return images, failed


class RayLabeler:
    """A Labeler whose images are split over the pool's workers; a failed chunk's images are
    failures with the worker's error."""

    def __init__(self, pool: RayPool, name: str) -> None:
        self.pool, self.name = pool, f"{name} on ray"
        # As when the label check keyed on the name "truth": labels that come back from Ray
        # workers are checked, whatever the workers' backend.
        self.exact = False

    def label(self, images: Sequence[GeneratedImage], classes: Sequence[str]) -> list[Label]:
        chunks = _chunks(images, 2 * len(self.pool.actors))
        results = self.pool.map("label", [(chunk, list(classes)) for chunk in chunks])
        labels: list[Label] = []
        for chunk, result in zip(chunks, results, strict=True):
            if isinstance(result, BaseException):
                failure = LabelFailure(f"ray worker failed twice: {LabelFailure.of(result).reason}")
                labels += [failure] * len(chunk)
            else:
                labels += list(result)
        return labels
