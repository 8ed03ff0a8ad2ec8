"""The composition root, above the steps: builds every port of a workspace from Settings."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from agent.ports import BatchPlanner, Deps
from agent.settings import ExecutionSettings, Settings
from agent.steps.planning import PLANNERS
from agent.steps.work import StepWork
from evaluation.request_check import ConditionReadBack
from storage.database import connect
from storage.datasets import WorkspaceDatasets
from storage.registry import Registry
from storage.workspace import Workspace, WorkspaceError
from tools.analyst.base import FailureAnalyst
from tools.detector.base import Detector
from tools.generator.base import ImageGenerator
from tools.generator.check import RequestChecker
from tools.labeler.base import Labeler

if TYPE_CHECKING:
    from tools.execution.ray_pool import RayPool


def build_analyst(settings: Settings) -> FailureAnalyst:
    """The configured analyst; its fallbacks are logged by the analyze step, with loop and cycle."""
    a = settings.analyst
    if a.backend == "qwen":
        from tools.analyst.qwen import QwenVlAnalyst

        return QwenVlAnalyst(
            a.model, a.dtype, a.device, a.min_pixels, a.max_pixels, a.max_new_tokens
        )
    if a.backend == "openai":
        from tools.analyst.openai_compat import OpenAICompatAnalyst

        return OpenAICompatAnalyst(
            a.base_url,
            a.model,
            a.api_key,
            a.timeout,
            a.retries,
            a.structured_output,
            min_pixels=a.min_pixels,
            max_pixels=a.max_pixels,
        )
    from tools.analyst.offline import OfflineAnalyst

    return OfflineAnalyst()  # each slice's evidence says which vocabulary to answer in


def _fanned_out(settings: Settings, build: Callable[[Settings], Any]) -> RayPool:
    """A Ray pool whose workers each build the tool once, in-process, from the same settings."""
    from tools.execution.ray_pool import RayPool

    local = settings.model_copy(update={"execution": ExecutionSettings()})
    e = settings.execution
    return RayPool(partial(build, local), e.workers, e.address, e.gpus_per_worker)


def build_generator(settings: Settings) -> ImageGenerator:
    backend = settings.generator_backend()
    if backend == "procedural" and settings.world is None:
        raise WorkspaceError(
            "The procedural generator draws the demo world's street scenes and this workspace "
            "holds your own photographs: set backends.generator to paste (CPU) or diffusers "
            "(GPU) in failforge.yaml."
        )
    retrieval = backend == "retrieval" or settings.loop.strategy == "retrieval"
    if settings.execution.backend == "ray" and not retrieval:
        from tools.execution.ray_pool import RayGenerator

        pool = _fanned_out(settings, build_generator)
        return RayGenerator(pool, backend)
    if retrieval:
        from tools.generator.retrieval import PoolRetriever

        return PoolRetriever()
    if backend == "paste":
        from tools.generator.paste import PasteGenerator

        return PasteGenerator(Workspace(settings.workspace).instance_bank_file)
    if backend == "diffusers":
        from tools.generator.diffusers_gen import DiffusersGenerator

        g = settings.generator
        return DiffusersGenerator(
            g.model,
            g.steps,
            g.guidance,
            dtype=g.dtype,
            device=g.device,
            cpu_offload=g.cpu_offload,
            batch_size=g.batch_size,
            edit_mode=g.edit_mode,
            strength=g.strength,
        )
    from tools.generator.procedural import ProceduralGenerator

    return ProceduralGenerator()


def build_labeler(settings: Settings) -> Labeler:
    if settings.execution.backend == "ray":
        from tools.execution.ray_pool import RayLabeler

        return RayLabeler(_fanned_out(settings, build_labeler), settings.backends.labeler)
    if settings.backends.labeler == "grounded-sam":
        from tools.labeler.grounded_sam import GroundedSamLabeler

        lab = settings.labeler
        return GroundedSamLabeler(
            lab.ontology,
            lab.detector_model,
            lab.sam_model,
            lab.box_threshold,
            lab.text_threshold,
            lab.nms_iou,
            lab.device,
        )
    from tools.labeler.truth import SceneTruthLabeler

    return SceneTruthLabeler()


def build_planner(strategy: str) -> BatchPlanner:
    return PLANNERS[strategy]()


def build_request_checker(settings: Settings) -> RequestChecker:
    """CLIP for images made from prompts (diffusers); conditions read back from pixels otherwise."""
    if settings.generator_backend() == "paste":
        from evaluation.attribute_check import AttributeReadBack

        return AttributeReadBack()
    if settings.generator_backend() == "diffusers":
        from tools.generator.clip_check import ClipRequestChecker

        g = settings.generator
        return ClipRequestChecker(g.clip_model, g.clip_threshold, g.device)
    return ConditionReadBack()


def build_detector(settings: Settings) -> Detector:
    d = settings.detector
    from tools.detector.ultralytics_detector import UltralyticsDetector

    return UltralyticsDetector(
        settings.classes,
        model=d.model,
        imgsz=d.imgsz * d.input_scale,  # ultralytics upsamples the images to it
        batch=d.batch,
        nominal_batch=d.nominal_batch,
        workers=d.workers,
        cpu_workers=d.cpu_workers,
        device=d.device,
        seed=d.seed,
        predict_conf=d.predict_conf,
        threads=d.threads,
        cache=d.cache,
        cpu_precision=d.cpu_precision,
        cpu_channels_last=d.cpu_channels_last,
        finetune_lr=d.finetune_lr,
        machine_lock=d.machine_lock,
    )


def build_deps(settings: Settings) -> Deps:
    """Real backends for `settings`; the workspace must exist."""
    workspace = Workspace(settings.workspace).require()
    connect(settings.database_dir(), settings.fiftyone.database_uri)
    registry = Registry.at(settings.state_location())
    return Deps(
        settings=settings,
        workspace=workspace,
        registry=registry,
        datasets=WorkspaceDatasets(settings.workspace_id, settings.classes),
        detector=build_detector(settings),
        analyst=build_analyst(settings),
        generator=build_generator(settings),
        labeler=build_labeler(settings),
        planner=build_planner(settings.loop.strategy),
        request_checker=build_request_checker(settings),
        bind_work=StepWork,
    )
