"""Integration: every benchmark arm on a tiny world, two seeds, one cycle; shape and consistency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.entry.cli import app
from agent.settings import Settings
from evaluation.bench import worst_slices
from storage.registry import Registry

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
        "0,1",
        "--out",
        str(out),
        "--variant",
        "focused:loop.concentrate=true;loop.free_conditions=misses",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    bench = json.loads((out / "bench.json").read_text())
    # `--json`: standard output is the JSON alone (progress bars go to standard error).
    assert json.loads(result.stdout) == bench
    arms = {"none", "generic", "uniform", "targeted", "retrieval", "oracle", "focused"}
    assert set(bench["arms"]) == arms and bench["seeds"] == [0, 1]
    # A variant is a targeted arm with its own settings, measured like every other arm.
    focused = Settings.load(out / "seed0" / "focused").loop
    assert focused.strategy == "targeted" and focused.concentrate
    assert focused.free_conditions == "misses"
    assert {"map50", "map50_95", "recall"} <= set(bench["baseline"]["overall"])
    slices = set(bench["baseline"]["slices"])
    assert {"lighting=night", "weather=fog", "distance=far", "crowding=dense"} <= slices
    # The worst slices come from the baselines alone (fixed before any arm ran).
    baselines = {}
    for seed in (0, 1):
        v1 = Registry(out / f"seed{seed}" / "base" / "registry.sqlite").model("v1")
        assert v1 is not None
        baselines[seed] = v1.metrics["test"]
    assert bench["worst_slices"] == worst_slices(baselines, 2)
    for arm, block in bench["arms"].items():
        assert set(block["slices"]) == slices
        assert len(block["per_cycle"]) == 1 and "map50_std" in block["overall"]
        assert block["timings"]["wall_seconds"] > 0
        assert set(block["net_gain"]) == slices | {"worst2", "loop_slices", "overall_map50"}
        for key, gain in block["net_gain"].items():
            if gain["ci95"] is not None:
                assert gain["ci95"][0] <= gain["mean"] <= gain["ci95"][1], (arm, key)
    assert bench["arms"]["none"]["net_gain"]["worst2"]["mean"] == 0.0
    assert set(bench["comparisons"]) == {f"targeted_vs_{a}" for a in arms - {"targeted"}}
    for seed in (0, 1):
        ran = {
            arm: json.loads((out / f"seed{seed}" / arm / "arm.json").read_text()) for arm in arms
        }
        # `none` generates nothing; the others spend at most the budget of 12.
        assert ran["none"]["images"] == [0]
        for arm in ("generic", "uniform", "oracle"):
            assert 0 < ran[arm]["images"][0] <= 12, (arm, ran[arm])
        for arm in ("targeted", "retrieval", "focused"):
            # A targeted arm spends images exactly when discovery found a slice to aim at; when
            # it found none it stops and says so (a tiny model may leave nothing to target).
            nothing = ran[arm]["stop_reason"] == "no failure slice found: nothing to target"
            assert (ran[arm]["images"] == [0]) == nothing, ran[arm]
            assert ran[arm]["images"][0] <= 12
        # One baseline per seed, shared: every arm's model descends from the same v1.
        base_v1 = (out / f"seed{seed}" / "base" / "models" / "v1" / "weights.pt").stat().st_ino
        for arm in arms:
            v1 = out / f"seed{seed}" / arm / "models" / "v1" / "weights.pt"
            assert v1.stat().st_ino == base_v1
            # Only the oracle arm is handed world truth (the baseline's worst test slices).
            told = Settings.load(out / f"seed{seed}" / arm).loop.oracle_slices
            assert bool(told) == (arm == "oracle"), arm
        # `none` trains on field data alone: a fine-tuned candidate exists, from no images.
        none_models = Registry(out / f"seed{seed}" / "none" / "registry.sqlite").models()
        assert [m.name for m in none_models] == ["v1", "v2"] and none_models[1].parent == "v1"
    assert (out / "bench.md").is_file() and (out / "gain_per_slice.png").is_file()
    assert (out / "curves.png").is_file()
    again = CliRunner().invoke(app, args)  # finished arms are read back, not rerun
    assert again.exit_code == 0 and json.loads((out / "bench.json").read_text()) == bench


def test_bench_refuses_unknown_arms(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--arms", "targeted,magic", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "magic" in result.output


@pytest.mark.parametrize(
    ("variant", "says"),
    [
        ("focused", "NAME:section.key=value"),
        ("none:loop.concentrate=true", "new NAME"),
        ("x:loop.concentrat=true", "not a setting"),
        ("x:loop.free_conditions=sometimes", "free_conditions"),
        ("x:loop.blamed_values=deployment", "set loop.deploy_images"),  # one world: none given
    ],
)
def test_bench_refuses_bad_variants(tmp_path: Path, variant: str, says: str) -> None:
    result = CliRunner().invoke(app, ["bench", "--variant", variant, "--out", str(tmp_path)])
    assert result.exit_code == 2 and says in result.output, result.output
    assert "Traceback" not in result.output


def test_a_sweep_checks_variants_with_the_deployment_sample_it_gives_every_arm() -> None:
    from agent.entry.cli_service import _bench_variants

    variant = ["deployed:loop.blamed_values=deployment"]
    assert _bench_variants(variant, sweep=True) == {
        "deployed": {"loop": {"blamed_values": "deployment"}}
    }
