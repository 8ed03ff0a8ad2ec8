"""Settings come from failforge.yaml and are overridden by FAILFORGE_<SECTION>__<KEY> variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import Settings, write_settings_file


def test_yaml_values_then_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_settings_file(tmp_path, {"workspace_id": "abc", "detector": {"epochs": 3, "imgsz": 96}})
    monkeypatch.setenv("FAILFORGE_DETECTOR__EPOCHS", "5")
    monkeypatch.setenv("FAILFORGE_WORKSPACE", "/somewhere/else")
    settings = Settings.load(tmp_path)
    assert settings.detector.epochs == 5  # environment wins
    assert settings.detector.imgsz == 96  # yaml kept where the environment is silent
    assert settings.workspace == tmp_path.resolve()  # the folder asked for, not the variable
    assert settings.workspace_id == "abc"


def test_fiftyone_database_lives_in_the_workspace_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # conftest points every test at one session database; a user's workspace has no such variable.
    monkeypatch.delenv("FAILFORGE_FIFTYONE__DATABASE_DIR", raising=False)
    assert Settings.load(tmp_path).database_dir() == tmp_path.resolve() / "fiftyone"
    elsewhere = tmp_path / "shared-db"
    monkeypatch.setenv("FAILFORGE_FIFTYONE__DATABASE_DIR", str(elsewhere))
    assert Settings.load(tmp_path).database_dir() == elsewhere


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = Settings.load(tmp_path)
    assert settings.classes == ["car", "person", "sign"]
    assert settings.detector.model == "yolov8n.yaml"


def test_a_clone_changes_only_the_settings_it_is_given() -> None:
    from agent.control.workspaces import _merged

    source = {"detector": {"imgsz": 96, "batch": 16}, "loop": {"cycles": 3}, "world": "w.yaml"}
    changed = _merged(source, {"detector": {"batch": 4}, "gate": {"min_gain": 0.0}})
    assert changed == {
        "detector": {"imgsz": 96, "batch": 4},  # the source's image size survives
        "loop": {"cycles": 3},
        "world": "w.yaml",
        "gate": {"min_gain": 0.0},
    }
    assert source["detector"] == {"imgsz": 96, "batch": 16}  # the source is left as it was
