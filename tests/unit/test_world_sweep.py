"""The claim across drawn worlds: per-world net gains, an interval over worlds, the share of worlds
where targeted beats uniform, and a sweep that resumes from the worlds already measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy import stats

from agent.control.world_sweep import SweepError, run_world_sweep
from evaluation.world_sweep import markdown, summarise_sweep
from tools.world.draw import WorldDistribution, draw_worlds

# Net gains of each arm over `none` on each world's worst two (gated, last candidate).
UNIFORM = [0.02, 0.03, 0.05, 0.00, 0.04, 0.01, 0.06, 0.02]
TARGETED = [0.05, 0.05, 0.04, 0.04, 0.05, 0.06, 0.04, 0.05]  # behind on world02 and world06
TARGETED_LAST = [u + 0.02 for u in UNIFORM]  # ahead by 0.02 everywhere


def _bench(seed: int, targeted: float, targeted_last: float, uniform: float) -> dict[str, Any]:
    """The part of one world's bench.json the sweep reads (one seed: the mean is the gain)."""

    def arm(gated: float, last: float) -> dict[str, Any]:
        return {
            "net_gain": {"worst2": {"mean": gated, "ci95": None}},
            "candidate_net_gain": {"worst2": {"mean": last, "ci95": None}},
        }

    return {
        "seeds": [seed],
        "worst_slices": ["distance=far", "lighting=night"],
        "arms": {
            "none": arm(0.0, 0.0),
            "targeted": arm(targeted, targeted_last),
            "uniform": arm(uniform, uniform),
        },
    }


def _results() -> dict[str, dict[str, Any]]:
    return {
        f"world{k:02d}": _bench(k, t, tl, u)
        for k, (t, tl, u) in enumerate(zip(TARGETED, TARGETED_LAST, UNIFORM, strict=True))
    }


def test_the_claim_is_judged_over_worlds_with_a_t_interval_and_the_share_ahead() -> None:
    summary = summarise_sweep(_results())
    gated = summary["versus"]["targeted_vs_uniform"]["gated"]
    differences = np.subtract(TARGETED, UNIFORM)
    half = stats.t.ppf(0.975, 7) * differences.std(ddof=1) / np.sqrt(8)
    assert gated["mean"] == pytest.approx(differences.mean())
    assert gated["ci95"] == pytest.approx([differences.mean() - half, differences.mean() + half])
    assert gated["ahead"] == 6 and gated["worlds"] == 8
    last = summary["versus"]["targeted_vs_uniform"]["last_candidate"]
    assert last["mean"] == pytest.approx(0.02) and last["ahead"] == 8
    # Gated: ahead on 6 of 8, but the interval holds 0; last candidates meet both targets.
    assert gated["ci95"][0] < 0
    assert summary["targets"]["gated"] == {
        "worlds": 8,
        "enough_worlds": True,
        "mean_difference": pytest.approx(differences.mean()),
        "interval_above_0": False,
        "ahead": "6 of 8",
        "ahead_enough": True,
    }
    assert summary["targets"]["last_candidate"]["interval_above_0"] is True
    # Each arm's mean net gain over worlds, and the per-world table behind it.
    assert summary["arms"]["uniform"]["gated"]["mean"] == pytest.approx(np.mean(UNIFORM))
    assert summary["per_world"]["world02"]["gated"]["targeted"] == 0.04
    assert "none" not in summary["arms"]


def test_a_world_without_an_arm_is_left_out_of_that_comparison() -> None:
    results = _results()
    del results["world07"]["arms"]["uniform"]
    comparison = summarise_sweep(results)["versus"]["targeted_vs_uniform"]["gated"]
    assert comparison["worlds"] == 7 and comparison["ahead"] == 5
    assert summarise_sweep(results)["targets"]["gated"]["enough_worlds"] is False


def test_a_variant_is_compared_with_targeted_as_well_as_uniform() -> None:
    results = _results()
    lever = [0.03, 0.01, 0.05, 0.06, 0.02, 0.07, 0.05, 0.04]  # targeted's settings, changed
    for result, gain in zip(results.values(), lever, strict=True):
        result["arms"]["deployed"] = result["arms"]["uniform"] | {
            "net_gain": {"worst2": {"mean": gain, "ci95": None}}
        }
        result["variants"] = {"deployed": {"loop": {"blamed_values": "deployment"}}}
    summary = summarise_sweep(results)
    versus = summary["versus"]
    assert set(versus) == {"targeted_vs_uniform", "deployed_vs_uniform", "deployed_vs_targeted"}
    assert "| deployed minus targeted |" in markdown(summary, "a sweep")
    gated = versus["deployed_vs_targeted"]["gated"]
    assert gated["mean"] == pytest.approx(np.mean(np.subtract(lever, TARGETED)))
    assert gated["ahead"] == 4 and gated["worlds"] == 8
    assert versus["deployed_vs_uniform"]["gated"]["ahead"] == 4  # a tie is not ahead
    # A sweep without variants compares targeted with uniform alone.
    assert set(summarise_sweep(_results())["versus"]) == {"targeted_vs_uniform"}


def test_a_sweep_resumes_from_measured_worlds_and_refuses_another_draw(tmp_path: Path) -> None:
    # Two worlds already measured (their bench.json in place): the sweep reads them back
    # instead of running them, and writes the summary.
    for world, targeted, uniform in zip(draw_worlds(2, 5), (0.05, 0.01), (0.02, 0.03), strict=True):
        folder = tmp_path / world.name
        folder.mkdir()
        (folder / "world.yaml").write_text(yaml.safe_dump(world.config.model_dump(mode="json")))
        bench = _bench(world.config.seed, targeted, targeted, uniform)
        (folder / "bench.json").write_text(json.dumps(bench))
    said: list[str] = []
    sweep = run_world_sweep(tmp_path, 2, 5, 300, 2, say=said.append)
    assert said == []  # nothing had to run
    assert sweep["summary"]["versus"]["targeted_vs_uniform"]["gated"]["ahead"] == 1
    assert json.loads((tmp_path / "sweep.json").read_text())["draw_seed"] == 5
    assert "targeted minus uniform" in (tmp_path / "sweep.md").read_text()
    # The same folder with another draw seed holds other worlds: refused, nothing overwritten.
    with pytest.raises(SweepError, match="another world than draw seed 6"):
        run_world_sweep(tmp_path, 2, 6, 300, 2, say=said.append)
    assert json.loads((tmp_path / "sweep.json").read_text())["draw_seed"] == 5
    # So do the same worlds with val drawn from the deployment.
    deployment = WorldDistribution(val_from="deployment")
    with pytest.raises(SweepError, match="another world than draw seed 5"):
        run_world_sweep(tmp_path, 2, 5, 300, 2, say=said.append, distribution=deployment)
    # A world.yaml written before a setting existed (here val_conditions) is the same world.
    for world in draw_worlds(2, 5):
        stored = world.config.model_dump(mode="json")
        del stored["val_conditions"]
        (tmp_path / world.name / "world.yaml").write_text(yaml.safe_dump(stored))
    assert run_world_sweep(tmp_path, 2, 5, 300, 2, say=said.append)["finished"] == 2


def test_a_sweep_stopped_half_way_has_written_what_it_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two of three worlds measured; the third's benchmark dies (a kill, a full disk).
    worlds = draw_worlds(3, 5)
    for world, targeted, uniform in zip(worlds[:2], (0.05, 0.01), (0.02, 0.03), strict=True):
        folder = tmp_path / world.name
        folder.mkdir()
        (folder / "world.yaml").write_text(yaml.safe_dump(world.config.model_dump(mode="json")))
        bench = _bench(world.config.seed, targeted, targeted, uniform)
        (folder / "bench.json").write_text(json.dumps(bench))

    def dies(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("agent.control.world_sweep._run_world", dies)
    with pytest.raises(KeyboardInterrupt):
        run_world_sweep(tmp_path, 3, 5, 300, 2, say=lambda _: None)
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["finished"] == 2 and len(sweep["worlds"]) == 3
    assert sweep["summary"]["versus"]["targeted_vs_uniform"]["gated"]["worlds"] == 2
    assert "2 of 3 finished so far" in (tmp_path / "sweep.md").read_text()


def test_worlds_and_one_world_together_are_refused_in_one_sentence(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agent.entry.cli import app

    result = CliRunner().invoke(
        app, ["bench", "--worlds", "2", "--world", "default", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "without --world" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_val_from_the_deployment_goes_with_worlds_and_is_field_or_deployment(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from agent.entry.cli import app

    out = str(tmp_path / "o")
    alone = CliRunner().invoke(app, ["bench", "--val-from", "deployment", "--out", out])
    assert alone.exit_code == 2 and "goes with --worlds" in alone.output
    wrong = CliRunner().invoke(app, ["bench", "--worlds", "1", "--val-from", "test", "--out", out])
    assert wrong.exit_code == 2 and "field or deployment, not 'test'" in wrong.output
    assert "Traceback" not in alone.output + wrong.output and not (tmp_path / "o").exists()
