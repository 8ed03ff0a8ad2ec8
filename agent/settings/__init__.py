"""Settings: one typed object read once from the workspace's failforge.yaml and FAILFORGE_* variables.

Each section is a model of its own module (the YAML section and the `FAILFORGE_<SECTION>__<KEY>`
variables keep their names): detector and evaluation (`detector`), where data and state live and
work runs (`infrastructure`), the loop (`loop`), the quality thresholds and the gate
(`thresholds`), the tools' backends (`backends`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent.settings.backends import (
    AnalystSettings,
    BackendSettings,
    GeneratorSettings,
    LabelerSettings,
)
from agent.settings.detector import DetectorSettings, EvaluationSettings
from agent.settings.infrastructure import ExecutionSettings, FiftyOneSettings, StateSettings
from agent.settings.loop import STRATEGIES, LoopSettings, Strategy
from agent.settings.thresholds import GateSettings, QualitySettings
from storage.state import StateLocation
from storage.workspace import Workspace, WorkspaceError

__all__ = [
    "STRATEGIES",
    "AnalystSettings",
    "BackendSettings",
    "DetectorSettings",
    "EvaluationSettings",
    "ExecutionSettings",
    "FiftyOneSettings",
    "GateSettings",
    "GeneratorSettings",
    "LabelerSettings",
    "LoopSettings",
    "QualitySettings",
    "Settings",
    "StateSettings",
    "Strategy",
    "problem_text",
    "read_settings_file",
    "write_settings_file",
]


class Settings(BaseSettings):
    """Everything configurable about one workspace."""

    model_config = SettingsConfigDict(
        env_prefix="FAILFORGE_", env_nested_delimiter="__", extra="ignore"
    )

    workspace: Path = Field(Path("."), description="the workspace folder")
    workspace_id: str = Field("", description="stable id; names the workspace's FiftyOne datasets")
    api_token: str | None = Field(
        None, description="bearer token for every route of the HTTP API (recorded as 'api')"
    )
    api_reviewers: dict[str, str] = Field(
        default_factory=dict,
        description="more bearer tokens, by reviewer name: decisions are recorded under it",
    )
    world: str | None = Field("world.yaml", description="world file in the workspace, or None")
    classes: list[str] = Field(
        default_factory=lambda: ["car", "person", "sign"], description="the detector's classes"
    )
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    fiftyone: FiftyOneSettings = Field(default_factory=FiftyOneSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    backends: BackendSettings = Field(default_factory=BackendSettings)
    analyst: AnalystSettings = Field(default_factory=AnalystSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    labeler: LabelerSettings = Field(default_factory=LabelerSettings)

    @model_validator(mode="after")
    def _deployment_objective_needs_images(self) -> Settings:
        if self.gate.objective == "deployment" and self.loop.deploy_images is None:
            raise ValueError(
                "gate.objective: deployment weighs val by the deployment images: set "
                "loop.deploy_images to a folder of them, or use objective: targets or worst"
            )
        return self

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
        try:
            settings = cls(**values)
        except ValidationError as error:
            raise WorkspaceError(
                f"{Workspace(workspace).settings_file}: {problem_text(error)}; fix it (nothing "
                "was changed)."
            ) from None
        # A relative .pt in detector.model is the user's own weights, read from the workspace.
        model = Path(settings.detector.model).expanduser()
        if model.suffix == ".pt":
            detector = settings.detector.model_copy(update={"model": str(workspace / model)})
            settings = settings.model_copy(update={"detector": detector})
        # The folder is the one asked for, whatever FAILFORGE_WORKSPACE says.
        return settings.model_copy(update={"workspace": workspace})

    def vocabulary(self) -> Literal["scene", "attributes"]:
        """scene: the demo world's conditions; attributes: a user's photographs (no world), whose
        slices, hypotheses and requests speak measured attributes and the user's classes."""
        return "scene" if self.world else "attributes"

    def generator_backend(self) -> str:
        """The generator in use: the one set, else the default for the kind of workspace."""
        if self.backends.generator is not None:
            return self.backends.generator
        return "procedural" if self.world else "paste"

    def database_dir(self) -> Path:
        return self.fiftyone.database_dir or Workspace(self.workspace).database_dir

    def state_location(self) -> StateLocation:
        return StateLocation(
            self.state.url, self.workspace.resolve(), self.workspace_id, self.state.busy_timeout
        )


def problem_text(error: ValidationError) -> str:
    """The first problem of a settings error as `section.key: message` (a rule across sections,
    such as the gate's objective needing the loop's images, has no key), without pydantic's
    "Value error, " prefix."""
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def read_settings_file(workspace: Path) -> dict[str, Any]:
    """The workspace's failforge.yaml as a mapping; WorkspaceError (one sentence) when damaged."""
    path = Workspace(workspace).settings_file
    try:
        raw = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise WorkspaceError(
            f"{path} is not valid YAML{where}; fix or restore it (nothing was changed)."
        ) from error
    if raw is not None and not isinstance(raw, dict):
        raise WorkspaceError(
            f"{path} must hold a mapping of settings (section: {{key: value}}); fix or restore "
            "it (nothing was changed)."
        )
    return dict(raw or {})


def write_settings_file(workspace: Path, values: dict[str, Any]) -> None:
    Workspace(workspace).settings_file.write_text(yaml.safe_dump(values, sort_keys=False))
