"""The gate's deployment objective (`gate.objective: deployment`): val recall weighted to the
deployment's lighting and weather, its paired interval, and the verdicts it reaches on
handcrafted scorecards through the gate as the loop calls it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from agent.settings import Settings
from agent.settings.thresholds import GateSettings
from agent.steps.judging import CandidateJudge
from evaluation.deployment_objective import (
    DEPLOYMENT_SLICE,
    DeploymentWeighting,
    effective_objects,
    object_weights,
    shift_corrected_counts,
    shifted_prevalence,
    with_deployment_slice,
)
from evaluation.gate import ModelScorecard
from evaluation.paired import paired_error
from evaluation.slices import ObjectTable

# Val as the field holds it: 180 day objects and 20 night ones. Deployment is mostly night:
# night's prevalence 4.5 (its share there over its share on val), day's 0.5.
DAY, NIGHT = 180, 20
PREVALENCE = {"lighting": {"day": 0.5, "night": 4.5}}
CONDITIONS = {f"day{i}": {"lighting": "day"} for i in range(DAY)} | {
    f"night{i}": {"lighting": "night"} for i in range(NIGHT)
}
SAMPLES = [f"day{i}" for i in range(DAY)] + [f"night{i}" for i in range(NIGHT)]
TARGET = "distance=far"


def _table(day_found: int, night_found: int, day_lost: int = 0) -> ObjectTable:
    """Val's objects in a fixed order: the first `day_found` day objects found, less the first
    `day_lost` of them; the first `night_found` night objects found."""
    day = [False] * day_lost + [True] * (day_found - day_lost) + [False] * (DAY - day_found)
    night = [True] * night_found + [False] * (NIGHT - night_found)
    return ObjectTable(
        sample_ids=SAMPLES,
        classes=np.zeros(DAY + NIGHT, dtype=int),
        values={},
        found=np.array(day + night),
    )


def _card(table: ObjectTable) -> ModelScorecard:
    # The cycle's target (40 far objects, unchanged by the candidates below) and one guard.
    far = [True] * 20 + [False] * 20
    card = ModelScorecard(
        map50=0.8,
        slice_recall={TARGET: 0.5, "lighting=day": 0.8},
        slice_found={TARGET: far, "lighting=day": [True] * 8 + [False] * 2},
    )
    return DeploymentWeighting(CONDITIONS, PREVALENCE).weigh(card, table)


INCUMBENT = _card(_table(160, 4))
# Moved toward the deployment: night 4 -> 16 of 20 found, at the price of 6 day objects.
TOWARD_DEPLOYMENT = _card(_table(160, 16, day_lost=6))
# Better on the field's mix, worse where it is deployed: day +10, night 4 -> 1.
TOWARD_FIELD = _card(_table(170, 1))


def _judge(objective: str, rule: str = "margin") -> CandidateJudge:
    settings = GateSettings.model_validate({"objective": objective, "rule": rule})
    return CandidateJudge(settings, 20, INCUMBENT, [TARGET], ["lighting=day"], PREVALENCE)


def test_each_object_weighs_its_images_prevalence() -> None:
    weights = object_weights(["day0", "night0", "unknown"], CONDITIONS, PREVALENCE)
    assert weights.tolist() == [0.5, 4.5, 1.0]
    both = {"lighting": PREVALENCE["lighting"], "weather": {"fog": 2.0}}
    seen = {"a": {"lighting": "night", "weather": "fog"}, "b": {"lighting": "day"}}
    assert object_weights(["a", "b"], seen, both).tolist() == [9.0, 0.5]
    # Equal weights are worth every object; 20 objects at 4.5 among 180 at 0.5 are worth fewer.
    assert effective_objects([1.0] * 200) == pytest.approx(200)
    assert effective_objects(object_weights(SAMPLES, CONDITIONS, PREVALENCE)) == pytest.approx(
        (90 + 90) ** 2 / (180 * 0.25 + 20 * 20.25)
    )


def test_the_weighted_recall_is_the_deployments_mix_of_val() -> None:
    # Day recall 160/180, night 4/20, weighted 90:90 (half the weight each).
    assert INCUMBENT.slice_recall[DEPLOYMENT_SLICE] == pytest.approx((160 / 180 + 4 / 20) / 2)
    assert INCUMBENT.slice_recall["lighting=day"] == 0.8  # the other slices as measured
    # No object to weigh: the slice is not added, and the gate says it was not measured.
    empty = ModelScorecard(map50=0.5)
    assert with_deployment_slice(empty, [], []) == empty


def test_the_weighted_interval_is_todays_with_equal_weights_and_wider_with_uneven_ones() -> None:
    before, after = INCUMBENT.slice_found, TOWARD_DEPLOYMENT.slice_found
    plain = paired_error(before, after, [DEPLOYMENT_SLICE])
    equal = {DEPLOYMENT_SLICE: [2.0] * (DAY + NIGHT)}
    assert paired_error(before, after, [DEPLOYMENT_SLICE], equal) == pytest.approx(plain)
    uneven = paired_error(before, after, [DEPLOYMENT_SLICE], INCUMBENT.slice_weights)
    # The weighted difference's own variance, by hand: n/(n-1) sum w^2 (d - D)^2 / (sum w)^2.
    w = np.array(INCUMBENT.slice_weights[DEPLOYMENT_SLICE])
    d = np.array(after[DEPLOYMENT_SLICE], dtype=float) - np.array(before[DEPLOYMENT_SLICE])
    mean = (w * d).sum() / w.sum()
    by_hand = np.sqrt(200 / 199 * (w**2 * (d - mean) ** 2).sum() / w.sum() ** 2)
    assert uneven == pytest.approx(by_hand)
    assert uneven > plain
    # Weights that do not match the objects are no evidence.
    assert paired_error(before, after, [DEPLOYMENT_SLICE], {DEPLOYMENT_SLICE: [1.0]}) == np.inf


@pytest.mark.parametrize("rule", ["margin", "evidence", "noninferior"])
def test_a_candidate_better_where_it_is_deployed_is_judged_there(rule: str) -> None:
    # On its targets (flat) the margin and evidence rules hold it. On val's own mix it rose
    # only 164 -> 170 of 200 (6 day objects lost, 12 night found); where it is deployed, the
    # night it gained weighs as much as all of the day.
    held = _judge("targets", rule)(TOWARD_DEPLOYMENT)
    deployed = _judge("deployment", rule)(TOWARD_DEPLOYMENT)
    assert deployed.promote, deployed.reasons
    if rule != "noninferior":
        assert not held.promote
    before, after = (160 / 180 + 4 / 20) / 2, (154 / 180 + 16 / 20) / 2
    assert (deployed.objective_before, deployed.objective_after) == pytest.approx((before, after))
    assert deployed.evidence.endswith(
        f"; objective: val weighted to the deployment "
        f"({effective_objects(INCUMBENT.slice_weights[DEPLOYMENT_SLICE]):.0f} effective of 200 "
        "objects; lighting night x4.5, lighting day x0.5)"
    )
    # The hypotheses the cycle tested are its targets', whatever the objective.
    assert list(deployed.outcomes) == [TARGET]


@pytest.mark.parametrize("rule", ["margin", "evidence"])
def test_a_candidate_better_on_the_fields_mix_but_worse_where_deployed_is_held(rule: str) -> None:
    held = _judge("deployment", rule)(TOWARD_FIELD)
    assert not held.promote and not held.carried
    assert held.objective_after is not None and held.objective_before is not None
    assert held.objective_after < held.objective_before


def test_the_deployment_objective_needs_the_deployment_images(tmp_path: Path) -> None:
    assert GateSettings(objective="deployment").objective == "deployment"
    with pytest.raises(ValidationError, match=r"set loop\.deploy_images"):
        Settings(workspace=tmp_path, gate={"objective": "deployment"})
    chosen = Settings(
        workspace=tmp_path, gate={"objective": "deployment"}, loop={"deploy_images": tmp_path}
    )
    assert chosen.gate.objective == "deployment"


def test_a_workspace_or_variant_asking_for_it_without_images_gets_one_sentence(
    tmp_path: Path,
) -> None:
    from agent.entry.cli_common import UsageError
    from agent.entry.cli_service import _bench_variants
    from storage.workspace import WorkspaceError

    (tmp_path / "failforge.yaml").write_text("gate:\n  objective: deployment\n")
    with pytest.raises(WorkspaceError) as error:
        Settings.load(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'failforge.yaml'}: gate.objective: deployment weighs val by the "
        "deployment images: set loop.deploy_images to a folder of them, or use objective: "
        "targets or worst; fix it (nothing was changed)."
    )
    with pytest.raises(UsageError, match=r"^Variant 'd': gate\.objective: deployment weighs"):
        _bench_variants(["d:gate.objective=deployment"])
    # A sweep gives every arm its deployment sample: there the variant is accepted.
    assert _bench_variants(["d:gate.objective=deployment"], sweep=True) == {
        "d": {"gate": {"objective": "deployment"}}
    }


def test_the_evidence_names_only_values_val_shows_and_says_when_nothing_was_measured() -> None:
    smoothed = {"lighting": {"day": 0.5, "night": 4.5, "dusk": 3.0}}  # val shows no dusk
    weighting = DeploymentWeighting(CONDITIONS, smoothed)
    assert weighting.used() == PREVALENCE
    empty = ModelScorecard(map50=0.8, slice_recall={TARGET: 0.5}, slice_found={TARGET: [True]})
    settings = GateSettings(objective="deployment")
    held = CandidateJudge(settings, 20, empty, [TARGET], [], PREVALENCE)(empty)
    assert not held.promote and held.objective_before is None
    assert held.evidence == "val weighted to the deployment not measured: val has no objects"


def test_the_prevalence_never_weighs_up_a_value_one_sample_lacks() -> None:
    from agent.steps.condition_reads import deployment_prevalence

    vocabulary = {"lighting": ["day", "dusk", "night"]}
    val = [{"lighting": "day"}] * 539 + [{"lighting": "night"}] * 60 + [{"lighting": "dusk"}]
    deployed = [{"lighting": "day"}] * 100 + [{"lighting": "night"}] * 100
    # Lighting reads the same from pixels on every image: val's two readings agree.
    pooled = shifted_prevalence(val, val, deployed, vocabulary, ["lighting"])
    # Dusk: 1 of 600 val images, none of 200 deployed: about 0, where a uniform prior says 1.5.
    assert pooled["lighting"]["dusk"] < 0.02
    uniform = deployment_prevalence(deployed, val, vocabulary, ["lighting"])
    assert uniform["lighting"]["dusk"] > 1.4
    # Common values keep about their raw ratios (night 0.5 / 0.1, day 0.5 / 0.898).
    assert pooled["lighting"]["night"] == pytest.approx(5.0, rel=0.03)
    assert pooled["lighting"]["day"] == pytest.approx(0.5 / (539 / 600), rel=0.03)
    # A value neither sample shows weighs 1, and so does every value of empty samples.
    fog = shifted_prevalence(val, val, deployed, {"lighting": ["day", "fog"]}, ["lighting"])
    assert fog["lighting"]["fog"] == 1.0
    assert shifted_prevalence([], [], [], vocabulary, ["lighting"])["lighting"]["day"] == 1.0


def test_a_reading_that_errs_on_val_is_corrected_on_the_deployment() -> None:
    values = ["near", "mid", "far"]
    # On val (labels known), the predicted boxes read 4 of 5 far images as mid, and every
    # near and mid image right.
    labelled = ["near"] * 50 + ["mid"] * 45 + ["far"] * 5
    predicted = ["near"] * 50 + ["mid"] * 45 + ["far"] * 1 + ["mid"] * 4
    # The deployment read the same way: 30 read far, 120 mid, 50 near.
    deployed = ["far"] * 30 + ["mid"] * 120 + ["near"] * 50
    counts = shift_corrected_counts(labelled, predicted, deployed, values)
    # Read far is (1 + 1) / (5 + 1) of the truly far (one pseudo-image read right), so about
    # 90 far images; the mid reads that were far are taken back from mid.
    assert counts["far"] == pytest.approx(90, rel=0.05)
    assert counts["near"] == pytest.approx(50, rel=0.05)
    assert sum(counts.values()) == pytest.approx(200)
    # A reading right on val changes nothing.
    assert shift_corrected_counts(labelled, labelled, deployed, values) == pytest.approx(
        {"near": 50.0, "mid": 120.0, "far": 30.0}
    )

    # The prevalence reads the corrected counts (about 90 far) against val's labelled shares,
    # where the uncorrected reading (30 far) would weigh far objects a third as much.
    def far(read_on_val: list[str]) -> float:
        rows = [{"distance": v} for v in labelled]
        return shifted_prevalence(
            rows,
            [{"distance": v} for v in read_on_val],
            [{"distance": v} for v in deployed],
            {"distance": values},
            ["distance"],
        )["distance"]["far"]

    assert far(predicted) > 2 * far(labelled)
