"""The benchmark's arm settings: who is told world truth, and what a probe variant may aim at."""

from pathlib import Path

from agent.control.bench import _arm_settings

TRUTH = {"distance=far": 0.3, "crowding=dense": 0.2}


def test_only_oracle_arms_are_told_truth() -> None:
    for strategy in ("none", "generic", "uniform", "targeted", "retrieval"):
        told = _arm_settings(strategy, 300, 2, Path("pool"), TRUTH, {})["loop"]["oracle_slices"]
        assert told == {}, strategy
    oracle = _arm_settings("oracle", 300, 2, Path("pool"), TRUTH, {})
    assert oracle["loop"]["oracle_slices"] == TRUTH
    assert oracle["loop"]["batch_size"] == 150


def test_a_probe_variant_aims_the_oracle_at_its_own_slice() -> None:
    probe = {"loop": {"strategy": "oracle", "oracle_slices": {"lighting=night": 1.0}}}
    settings = _arm_settings("oracle", 300, 2, Path("pool"), TRUTH, probe)
    assert settings["loop"]["oracle_slices"] == {"lighting=night": 1.0}
    # A targeted variant that names slices is still not told any.
    aimed = {"loop": {"oracle_slices": {"lighting=night": 1.0}}}
    assert (
        _arm_settings("targeted", 300, 2, Path("pool"), TRUTH, aimed)["loop"]["oracle_slices"] == {}
    )
