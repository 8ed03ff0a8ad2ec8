"""Workspaces: create one from the demo world or a user's data, clone one, train its baseline."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.control.image_size import choose_image_size
from agent.ports import Deps, Progress, no_progress
from agent.settings import Settings, read_settings_file, write_settings_file
from agent.steps.predictions import SLICE_PREFIX, export_items
from agent.steps.training import train_model
from storage.database import connect
from storage.datasets import LabeledImage, WorkspaceDatasets
from storage.importers import ImportReport, copy_image, import_labelled
from storage.importers.fiftyone_dataset import import_fiftyone
from storage.registry import Registry
from storage.workspace import Workspace, WorkspaceError
from tools.convert import make_detections
from tools.world.config import WorldConfig, read_world
from tools.world.field import SPLITS, render_field
from tools.world.scene import CLASSES


@dataclass
class InitSummary:
    """What `failforge init` made: counts per split, what it skipped, and what it chose (the
    image size, the classes, the splits) with why, one sentence each."""

    workspace: Path
    source: str
    counts: dict[str, int]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportSource:
    """A user's labelled images: a folder or file in a format, or a dataset of their FiftyOne."""

    path: Path | None = None
    format: str = "yolo"
    dataset: str | None = None
    label_field: str | None = None
    classes: list[str] | None = None

    def read(self) -> ImportReport:
        if self.dataset is not None:
            return import_fiftyone(self.dataset, self.label_field, self.classes)
        assert self.path is not None
        return import_labelled(self.path, self.format, CLASSES, self.classes)

    def describe(self) -> str:
        if self.dataset is not None:
            return f"FiftyOne dataset '{self.dataset}'"
        return f"{self.format} import of {self.path}"


def init_workspace(
    root: Path,
    yaml_path: Path | None = None,
    import_path: Path | None = None,
    import_format: str = "yolo",
    progress: Progress = no_progress,
    settings_values: dict[str, Any] | None = None,
    source: ImportSource | None = None,
) -> InitSummary:
    """Create a workspace at `root` with field data from the world or from a user's images
    (`import_path` in `import_format`, or any `source`)."""
    root = root.expanduser().resolve()
    workspace = Workspace(root)
    if workspace.settings_file.exists():
        raise WorkspaceError(f"{root} is already a failforge workspace; choose another folder.")
    if source is None and import_path is not None:
        source = ImportSource(import_path, import_format)
    # Validate inputs before anything is written (a FiftyOne dataset is read before this
    # process connects to the workspace's own database).
    world = read_world(yaml_path) if source is None else None
    report = source.read() if source is not None else None
    notes = list(report.notes) if report is not None else []
    workspace.create()
    values: dict[str, Any] = {"workspace_id": uuid.uuid4().hex[:10], **(settings_values or {})}
    if world is not None:
        values.update(_world_values(root, world))
    else:
        assert report is not None
        values.update(_imported_values(report, values.get("detector"), notes))
    settings = Settings(**values).model_copy(update={"workspace": root})
    connect(settings.database_dir(), settings.fiftyone.database_uri)
    datasets = WorkspaceDatasets(settings.workspace_id, settings.classes)
    if world is not None:
        counts = _render_field(world, workspace, datasets, progress)
        described = "demo world"
    else:
        assert report is not None and source is not None
        counts = _copy_field(report, workspace, datasets, progress)
        described = source.describe()
    # Written last: a folder becomes a workspace only once its data is in place.
    write_settings_file(root, values)
    registry = Registry.at(Settings.load(root).state_location())
    registry.log("workspace_created", source=described, counts=counts, notes=notes)
    return InitSummary(root, described, counts, report.skipped if report else [], notes)


def _world_values(root: Path, world: WorldConfig) -> dict[str, Any]:
    """The settings of a demo world's workspace; its world.yaml is written beside them."""
    (root / "world.yaml").write_text(_dump_yaml(world.model_dump(mode="json")))
    return {
        "world": "world.yaml",
        "classes": list(CLASSES),
        "detector": {"imgsz": world.image_size},
    }


def _imported_values(
    report: ImportReport, detector: dict[str, Any] | None, notes: list[str]
) -> dict[str, Any]:
    """The settings of an imported workspace: the user's classes, and an image size chosen from
    the images unless given (the choice's reason goes first in `notes`)."""
    values: dict[str, Any] = {"world": None, "classes": report.classes}
    detector = dict(detector or {})
    if "imgsz" in detector:
        notes.insert(0, f"image size {detector['imgsz']}: as given")
    else:
        choice = choose_image_size(report.images, report.classes)
        values["detector"] = {**detector, "imgsz": choice.imgsz}
        notes.insert(0, choice.reason)
    return values


def _render_field(
    world: WorldConfig, workspace: Workspace, datasets: WorkspaceDatasets, progress: Progress
) -> dict[str, int]:
    """Render the world's field data into the workspace; images per split."""
    counts: dict[str, int] = {}
    for split in SPLITS:
        total = getattr(world.splits, split)
        images = []
        for done, item in enumerate(
            render_field(world, workspace.field_images_dir(split), split), 1
        ):
            images.append(
                LabeledImage(
                    item.path,
                    make_detections(item.boxes, item.class_ids),
                    world.image_size,
                    world.image_size,
                    tags=[split],
                    attributes={f"{SLICE_PREFIX}{k}": v for k, v in item.conditions.tags().items()},
                )
            )
            progress(f"render {split}", done, total)
        datasets.add_images(images)
        counts[split] = len(images)
    return counts


def _copy_field(
    report: ImportReport, workspace: Workspace, datasets: WorkspaceDatasets, progress: Progress
) -> dict[str, int]:
    """Copy a user's images into the workspace as its field data; images per split."""
    counts: dict[str, int] = {}
    copied = []
    for done, image in enumerate(report.images, 1):
        split = image.tags[0]
        target = workspace.field_images_dir(split) / f"{done:06d}_{image.path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target = copy_image(image.path, target)
        copied.append(LabeledImage(target, image.detections, image.width, image.height, image.tags))
        counts[split] = counts.get(split, 0) + 1
        progress("import", done, len(report.images))
    datasets.add_images(copied)
    return {split: counts[split] for split in SPLITS if split in counts}


def clone_workspace(source: Deps, target: Path, settings_values: dict[str, Any]) -> Path:
    """A copy of a trained workspace that can run its own loop: files hard-linked, datasets cloned.

    Shares the source's FiftyOne database (one per process), so both must use the same one.
    """
    target = target.expanduser().resolve()
    if Workspace(target).settings_file.exists():
        raise WorkspaceError(f"{target} is already a failforge workspace; choose another folder.")
    root = source.workspace.root
    for folder in ("models",):  # sample paths keep pointing at the source's images (read-only)
        if (root / folder).is_dir():
            shutil.copytree(
                root / folder, target / folder, copy_function=os.link, dirs_exist_ok=True
            )
    # The field camera is estimated from the field images a clone shares: estimated once, by the
    # source, not again by every benchmark arm (about 9 s each on 2 cores).
    for name in ("world.yaml", Workspace.CAMERA_NAME):
        if (root / name).is_file():
            shutil.copy2(root / name, target / name)
    shutil.copy2(source.workspace.registry_file, Workspace(target).registry_file)
    Workspace(target).create()
    workspace_id = uuid.uuid4().hex[:10]
    source.datasets.clone_to(workspace_id)
    values = {**_merged(read_settings_file(root), settings_values), "workspace_id": workspace_id}
    write_settings_file(target, values)
    # Model paths in the copied registry point into the source; repoint them to the links.
    Registry(Workspace(target).registry_file).relocate_models(root, target)
    return target


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` laid over it section by section: a clone told to change
    `detector.batch` keeps the source's other detector settings (its image size, say)."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _dump_yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def train_baseline(
    deps: Deps, progress: Progress = no_progress, epochs: int | None = None
) -> dict[str, Any]:
    """Train model v1 on `train`, evaluate on `val` and `test`; idempotent once v1 exists."""
    existing = deps.registry.model("v1")
    if existing is not None:
        return {"model": "v1", "skipped": True, "metrics": existing.metrics}
    model = deps.settings.detector.model
    if model.endswith(".pt") and not Path(model).is_file():
        raise WorkspaceError(
            f"detector.model {model} does not exist; point it at your own .pt weights (relative "
            "to the workspace, or absolute) or at a model yaml such as yolov8n.yaml."
        )
    epochs = epochs or deps.settings.detector.epochs
    trained = train_model(
        deps,
        "v1",
        export_items(deps, deps.datasets.split("train")),
        cycle=0,
        parent=None,
        epochs=epochs,
        status="incumbent",
        progress=progress,
        evaluate_on=("val", "test"),
    )
    seconds = trained.result.seconds
    deps.registry.log("model_trained", model="v1", seconds=seconds, epochs=epochs)
    return {"model": "v1", "skipped": False, "metrics": trained.metrics, "seconds": seconds}
