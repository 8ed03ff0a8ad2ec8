"""Integration: all four benchmark arms on a tiny world, one seed, one cycle; shape and consistency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app

# It trains models: measured ~300 s on 2 busy CPU cores, half the default timeout
# (pyproject.toml); a longer limit keeps a slower runner from flaking, a hang still fails.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def test_bench_runs_every_arm_from_one_shared_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = tmp_path / "world.yaml"
    world.write_text("image_size: 64\nsplits: {train: 40, val: 20, test: 24}\n")
    for key, value in {
        "FAILFORGE_DETECTOR__EPOCHS": "6",
        "FAILFORGE_DETECTOR__FINETUNE_EPOCHS": "1",
        "FAILFORGE_LOOP__MIN_SUPPORT": "3",
        "FAILFORGE_LOOP__REAL_SAMPLE": "20",
        "FAILFORGE_GATE__MIN_GAIN": "0.0",
    }.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "bench"
    args = [
        "bench",
        "--world",
        str(world),
        "--budget",
        "12",
        "--cycles",
        "1",
        "--seeds",
        "0",
        "--out",
        str(out),
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    bench = json.loads((out / "bench.json").read_text())
    # `--json`: standard output is the JSON alone (progress bars go to standard error).
    assert json.loads(result.stdout) == bench
    assert set(bench["arms"]) == {"none", "untargeted", "targeted", "retrieval"}
    assert {"map50", "map50_95", "recall"} <= set(bench["baseline"]["overall"])
    slices = set(bench["baseline"]["slices"])
    assert {"lighting=night", "weather=fog", "distance=far", "crowding=dense"} <= slices
    for block in bench["arms"].values():
        assert set(block["slices"]) == slices
        assert len(block["per_cycle"]) == 1 and "map50_std" in block["overall"]
        assert block["timings"]["wall_seconds"] > 0
    ran = {arm: json.loads((out / "seed0" / arm / "arm.json").read_text()) for arm in bench["arms"]}
    assert {arm: block["images"] for arm, block in bench["arms"].items()} == {
        arm: [sum(r["images"])] for arm, r in ran.items()
    }
    # `none` generates nothing; the others spend at most the budget of 12.
    assert ran["none"]["images"] == [0]
    assert 0 < ran["untargeted"]["images"][0] <= 12
    for arm in ("targeted", "retrieval"):
        # A targeted arm spends images exactly when discovery found a slice to aim at; when it
        # found none it stops and says so (a tiny model may leave nothing to target).
        nothing_to_target = ran[arm]["stop_reason"] == "no failure slice found: nothing to target"
        assert (ran[arm]["images"] == [0]) == nothing_to_target, ran[arm]
        assert ran[arm]["images"][0] <= 12
    # One baseline, shared: every arm's model descends from the same v1.
    base_v1 = (out / "seed0" / "base" / "models" / "v1" / "weights.pt").stat().st_ino
    for arm in bench["arms"]:
        assert (out / "seed0" / arm / "models" / "v1" / "weights.pt").stat().st_ino == base_v1
    # `none` trains on field data alone: a fine-tuned candidate exists, from no images.
    from storage.registry import Registry

    none_models = Registry(out / "seed0" / "none" / "registry.sqlite").models()
    assert [m.name for m in none_models] == ["v1", "v2"] and none_models[1].parent == "v1"
    assert (out / "bench.md").is_file() and (out / "gain_per_slice.png").is_file()
    assert (out / "curves.png").is_file()
    again = CliRunner().invoke(app, args)  # finished arms are read back, not rerun
    assert again.exit_code == 0 and json.loads((out / "bench.json").read_text()) == bench


def test_bench_refuses_unknown_arms(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--arms", "targeted,magic", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "magic" in result.output
