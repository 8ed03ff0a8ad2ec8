"""world.yaml validation: clear errors for unknown conditions and bad probabilities; defaults fill gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tools.world.config import WorldConfigError, read_world
from tools.world.field import draw_conditions, render_field


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("conditions: {lighting: {day: 0.5, noon: 0.5}}", "unknown value 'noon'"),
        ("conditions: {season: {summer: 1.0}}", "unknown condition 'season'"),
        ("conditions: {weather: {clear: 0.5, rain: 0.2}}", "sum to 0.7, not 1"),
        ("splits: {train: -1}", "splits.train"),
        ("- just\n- a list", "must hold a mapping"),
        ("seed: [unclosed", "not valid YAML"),
    ],
)
def test_bad_yaml_paths_give_one_clear_sentence(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(text)
    with pytest.raises(WorldConfigError, match=message.replace("(", r"\(")) as info:
        read_world(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            b"splits: {train: 1000000000}",
            "splits.train is 1000000000; use a whole number from 0 to 100000",
        ),
        (b"splits: {val: 1e9}", "splits.val is '1e9'; use a whole number from 0 to 100000"),
        (b"seed: -3", "seed is -3; use a whole number from 0 to 4294967295"),
        (b"image_size: 4096", "image_size is 4096; use a whole number from 32 to 1024"),
        (b"seed: 1\n# caf\xe9 (Latin-1)\n", "is not UTF-8 text (byte 13 cannot be read)"),
    ],
)
def test_hostile_values_get_one_sentence_with_the_allowed_range(
    tmp_path: Path, text: bytes, message: str
) -> None:
    path = tmp_path / "world.yaml"
    path.write_bytes(text)
    with pytest.raises(WorldConfigError) as info:
        read_world(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_yaml_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WorldConfigError, match="does not exist"):
        read_world(tmp_path / "nope.yaml")


def test_partial_world_keeps_default_priors_and_test_is_uniform(tmp_path: Path) -> None:
    path = tmp_path / "world.yaml"
    path.write_text("conditions: {lighting: {night: 1.0}}\n")
    config = read_world(path)
    assert config.conditions["lighting"] == {"night": 1.0}
    assert set(config.conditions) == {"lighting", "weather", "distance", "crowding"}
    test_priors = config.priors("test")
    assert test_priors["lighting"] == pytest.approx({"day": 1 / 3, "dusk": 1 / 3, "night": 1 / 3})
    rng = np.random.default_rng(0)
    assert {draw_conditions(config.priors("train"), rng).lighting for _ in range(30)} == {"night"}


def test_field_rendering_is_deterministic_and_skewed(tmp_path: Path) -> None:
    config = read_world(None)
    first = list(render_field(config, tmp_path / "a", "train", count=60))
    again = list(render_field(config, tmp_path / "b", "train", count=60))
    assert [f.conditions for f in first] == [f.conditions for f in again]
    assert (tmp_path / "a" / "train_00007.jpg").read_bytes() == (
        tmp_path / "b" / "train_00007.jpg"
    ).read_bytes()
    day_share = np.mean([f.conditions.lighting == "day" for f in first])
    assert day_share > 0.5
