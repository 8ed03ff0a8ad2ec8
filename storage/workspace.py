"""The folder layout of one workspace: where settings, database, registry, images, weights and reports live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


class WorkspaceError(ValueError):
    """A folder that is not a usable workspace; the message is one sentence for the user."""


@dataclass(frozen=True)
class Workspace:
    """Paths inside a workspace folder; creating the object touches nothing on disk."""

    root: Path

    # The names of the files in the folder, here and nowhere else (the SQLite names are also the
    # names storage.state opens when the workspace's state is not in a shared database).
    SETTINGS_NAME: ClassVar[str] = "failforge.yaml"
    REGISTRY_NAME: ClassVar[str] = "registry.sqlite"
    CHECKPOINT_NAME: ClassVar[str] = "checkpoints.sqlite"
    SCHEDULER_NAME: ClassVar[str] = "scheduler.sqlite"
    CAMERA_NAME: ClassVar[str] = "field_camera.json"

    @property
    def settings_file(self) -> Path:
        return self.root / self.SETTINGS_NAME

    @property
    def registry_file(self) -> Path:
        return self.root / self.REGISTRY_NAME

    @property
    def checkpoint_file(self) -> Path:
        return self.root / self.CHECKPOINT_NAME

    @property
    def camera_file(self) -> Path:
        """The field camera estimated from the field images (agent.steps.camera)."""
        return self.root / self.CAMERA_NAME

    @property
    def database_dir(self) -> Path:
        """FiftyOne's database directory unless fiftyone.database_dir puts it elsewhere."""
        return self.root / "fiftyone"

    @property
    def lock_file(self) -> Path:
        return self.root / "loop.lock"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    def field_images_dir(self, split: str) -> Path:
        return self.images_dir / "field" / split

    def synthetic_images_dir(self, batch_id: str) -> Path:
        return self.images_dir / "synthetic" / batch_id

    def evidence_dir(self, cycle: int, slice_name: str) -> Path:
        """Where the analyst's evidence images of one failure slice of one cycle are written."""
        safe = "".join(c if c.isalnum() or c in "=-_" else "_" for c in slice_name)
        return self.cycle_dir(cycle) / "evidence" / safe

    @property
    def instance_bank_file(self) -> Path:
        """The paste generator's bank of train objects (written by the generate step)."""
        return self.root / "instances" / "bank.json"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def model_dir(self, version: str) -> Path:
        return self.models_dir / version

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def cycle_dir(self, cycle: int) -> Path:
        return self.root / "cycles" / str(cycle)

    def create(self) -> None:
        for folder in (self.root, self.images_dir, self.models_dir, self.reports_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def require(self) -> Workspace:
        """This workspace, or WorkspaceError when the folder is missing or not a workspace."""
        if not self.root.is_dir():
            raise WorkspaceError(
                f"Workspace {self.root} does not exist; create one with `failforge init {self.root}`."
            )
        if not self.settings_file.is_file():
            raise WorkspaceError(
                f"{self.root} is not a failforge workspace (no {self.SETTINGS_NAME}); "
                f"create one with `failforge init DIR` or pass --workspace."
            )
        return self
