"""Settings: one typed object read once from the workspace's failforge.yaml and FAILFORGE_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SETTINGS_FILE = "failforge.yaml"


class DetectorSettings(BaseModel):
    """How the detector is built and trained."""

    backend: Literal["ultralytics"] = "ultralytics"
    model: str = Field("yolov8n.yaml", description="model yaml (trained from scratch) or a .pt path")
    epochs: int = Field(30, ge=1, description="epochs of the baseline training")
    finetune_epochs: int = Field(12, ge=1, description="epochs of each cycle's fine-tuning")
    imgsz: int = Field(160, ge=32)
    batch: int = Field(32, ge=1)
    workers: int = Field(2, ge=0)
    seed: int = 0
    device: str = Field("cpu", description="'cpu', '0', 'cuda:0', ...")
    predict_conf: float = Field(0.01, gt=0, lt=1, description="lowest confidence stored")


class EvaluationSettings(BaseModel):
    """How predictions are judged."""

    conf_threshold: float = Field(0.25, gt=0, lt=1, description="confidence for recall/precision")
    iou: float = Field(0.5, gt=0, lt=1, description="IoU for a match in recall/precision")


class FiftyOneSettings(BaseModel):
    """Where FiftyOne keeps its database (one MongoDB per database directory)."""

    database_dir: Path | None = Field(None, description="default: <workspace>/fiftyone")
    database_uri: str | None = Field(None, description="a MongoDB server instead of a local one")
    app_port: int = 5151


class Settings(BaseSettings):
    """Everything configurable about one workspace."""

    model_config = SettingsConfigDict(
        env_prefix="FAILFORGE_", env_nested_delimiter="__", extra="ignore"
    )

    workspace: Path = Field(Path("."), description="the workspace folder")
    workspace_id: str = Field("", description="stable id; names the workspace's FiftyOne datasets")
    world: str | None = Field("world.yaml", description="world file in the workspace, or None")
    classes: list[str] = Field(default_factory=lambda: ["car", "person", "sign"])
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    fiftyone: FiftyOneSettings = Field(default_factory=FiftyOneSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment variables override what failforge.yaml (passed as init values) says.
        return (env_settings, init_settings)

    @classmethod
    def load(cls, workspace: Path) -> Settings:
        """Settings of `workspace`: its failforge.yaml, then FAILFORGE_* overrides."""
        workspace = workspace.expanduser().resolve()
        values = read_settings_file(workspace)
        # The folder is the one asked for, whatever FAILFORGE_WORKSPACE says.
        return cls(**values).model_copy(update={"workspace": workspace})

    def database_dir(self) -> Path:
        return self.fiftyone.database_dir or self.workspace / "fiftyone"


def read_settings_file(workspace: Path) -> dict[str, Any]:
    path = workspace / SETTINGS_FILE
    raw = yaml.safe_load(path.read_text()) if path.is_file() else None
    return dict(raw or {})


def write_settings_file(workspace: Path, values: dict[str, Any]) -> None:
    (workspace / SETTINGS_FILE).write_text(yaml.safe_dump(values, sort_keys=False))
