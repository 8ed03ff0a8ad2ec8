"""Generation and labelling over a real local Ray cluster: same images and labels as in-process,
in request order; a failing or dying worker is retried once, then its requests count as failed."""

from __future__ import annotations

import importlib.util
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.bootstrap import build_generator, build_labeler
from agent.settings import Settings
from tests.required import require_tool
from tools.generator.base import GenerationRequest
from tools.generator.procedural import ProceduralGenerator
from tools.labeler.truth import SceneTruthLabeler

pytestmark = [
    pytest.mark.slow,
    require_tool(importlib.util.find_spec("ray"), "ray", "the dev extra installs it"),
]
REPO = Path(__file__).resolve().parents[2]
CONDITIONS = {"lighting": "night", "weather": "fog", "distance": "far", "crowding": "dense"}


@pytest.fixture(scope="module", autouse=True)
def local_cluster() -> Iterator[None]:
    import ray

    # Workers import the tests' own tool classes from the repository.
    ray.init(
        num_cpus=2,
        object_store_memory=100 * 2**20,
        include_dashboard=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    yield
    ray.shutdown()


def _requests(count: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(id=f"r{i}", slice_name="s", prompt="p", conditions=CONDITIONS, seed=i)
        for i in range(count)
    ]


def test_the_same_images_and_labels_as_in_process_in_request_order(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path, execution={"backend": "ray", "workers": 2})
    generator, labeler = build_generator(settings), build_labeler(settings)
    assert generator.name == "procedural on ray" and labeler.name == "truth on ray"
    requests = _requests(7)
    images, failed = generator.generate(requests, tmp_path / "ray", 64)
    local, _ = ProceduralGenerator().generate(requests, tmp_path / "local", 64)
    assert failed == {} and [i.request_id for i in images] == [r.id for r in requests]
    for fanned, alone in zip(images, local, strict=True):
        assert np.array_equal(
            np.asarray(Image.open(fanned.path)), np.asarray(Image.open(alone.path))
        )
    labels = labeler.label(images, ["car", "person", "sign"])
    expected = SceneTruthLabeler().label(local, ["car", "person", "sign"])
    for got, want in zip(labels, expected, strict=True):
        assert got is not None and want is not None
        assert np.allclose(got.xyxy, want.xyxy) and list(got.class_id) == list(want.class_id)


class Flaky(ProceduralGenerator):
    """Raises on request `boom` every time; kills its own worker once on request `crash`."""

    def __init__(self, marker: Path) -> None:
        super().__init__()
        self.marker = marker

    def generate(self, requests, out_dir, size):  # type: ignore[no-untyped-def]
        ids = {r.id for r in requests}
        if "boom" in ids:
            raise RuntimeError("the model ran out of memory")
        if "crash" in ids and not self.marker.exists():
            self.marker.write_text("crashed once")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().generate(requests, out_dir, size)


def test_a_failing_chunk_is_retried_once_then_counted_as_failed_images(tmp_path: Path) -> None:
    from functools import partial

    from tools.execution.ray_pool import RayGenerator, RayPool

    pool = RayPool(partial(Flaky, tmp_path / "crashed"), workers=2)
    generator = RayGenerator(pool, "flaky")
    requests = _requests(6)
    requests[1] = requests[1].model_copy(update={"id": "boom"})
    requests[4] = requests[4].model_copy(update={"id": "crash"})
    images, failed = generator.generate(requests, tmp_path / "out", 64)
    # 6 requests over 2 workers = 4 chunks of 2: the chunk holding `boom` fails twice (both its
    # requests count as failed); the one holding `crash` kills its worker, Ray restarts it, and
    # the retry succeeds.
    assert (tmp_path / "crashed").exists()
    assert set(failed) == {"r0", "boom"} and "failed twice" in failed["boom"]
    assert [i.request_id for i in images] == ["r2", "r3", "crash", "r5"]


def test_doctor_marks_ray_configured_only_when_it_is_the_backend(tmp_path: Path) -> None:
    from agent.control.doctor import diagnose

    def ray_check(backend: str) -> tuple[bool, bool]:
        settings = Settings(workspace=tmp_path, execution={"backend": backend})
        check = next(c for c in diagnose(settings) if c.backend == "ray")
        return check.configured, check.ok

    assert ray_check("ray") == (True, True) and ray_check("local") == (False, True)
