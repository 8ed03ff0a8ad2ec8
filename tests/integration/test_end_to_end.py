"""Integration: real FiftyOne, real SQLite, real ultralytics on a tiny world, driven through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.entry.cli import app

# It trains models: its first test, with the baseline fixture, took ~440 s on 2 busy CPU cores,
# close to the default timeout (pyproject.toml); a longer limit keeps a slower runner from
# flaking, a hang still fails.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
runner = CliRunner()


def _own_copy(trained_workspace: Path, target: Path) -> Path:
    """A clone of the trained baseline for a test that runs a loop, so no test sees another's loop."""
    from agent.bootstrap import build_deps
    from agent.control.workspaces import clone_workspace
    from agent.settings import Settings

    return clone_workspace(build_deps(Settings.load(trained_workspace)), target, {})


def _pending_batch(ws: str) -> dict:
    listed = json.loads(runner.invoke(app, ["batches", "-w", ws, "--json"]).output)
    pending = [b for b in listed if b["status"] == "proposed"]
    assert len(pending) == 1, listed
    return pending[0]


def test_init_stores_field_data_with_split_tags_and_truth_fields(trained_workspace: Path) -> None:
    from agent.bootstrap import build_deps
    from agent.settings import Settings

    deps = build_deps(Settings.load(trained_workspace))
    assert {s: deps.datasets.count(s) for s in ("train", "val", "test")} == {
        "train": 64,
        "val": 32,
        "test": 24,
    }
    fields = deps.datasets.field_names(prefix="world_")
    assert fields == ["world_crowding", "world_distance", "world_lighting", "world_weather"]
    assert {"val failures", "test failures", "val missed objects"} <= set(
        deps.datasets.saved_views()
    )
    # One evaluation patch per missed val object: as many as the evaluation counted.
    missed = deps.datasets.field().load_saved_view("val missed objects")
    fn = sum(deps.datasets.split("val").values("v1_val_fn"))
    assert missed.count() == fn > 0 and set(missed.distinct("type")) == {"fn"}


def test_status_json_has_incumbent_metrics_and_slices(trained_workspace: Path) -> None:
    result = runner.invoke(app, ["status", "-w", str(trained_workspace), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["incumbent"]["name"] == "v1" and payload["incumbent"]["parent"] is None
    assert payload["metrics"]["images"] == 24
    assert {"lighting=day", "crowding=sparse"} <= set(payload["slices"])
    assert all(0 <= m["map50"] <= 1 for m in payload["slices"].values() if m["map50"] is not None)


def test_baseline_is_idempotent(trained_workspace: Path) -> None:
    result = runner.invoke(app, ["baseline", "-w", str(trained_workspace)])
    assert result.exit_code == 0 and "already exists" in result.output


def test_fiftyone_map50_agrees_with_ultralytics_val(trained_workspace: Path) -> None:
    from agent.bootstrap import build_deps
    from agent.settings import Settings
    from storage.workspace import Workspace

    deps = build_deps(Settings.load(trained_workspace))
    model = deps.registry.model("v1")
    assert model is not None
    ours = model.metrics["val"]["overall"]
    data_yaml = Workspace(trained_workspace).cycle_dir(0) / "data" / "data.yaml"
    theirs = deps.detector.validate(Path(model.path), data_yaml, "val")
    assert ours["map50"] > 0.05, (
        "the tiny model should have learnt something for this check to mean anything"
    )
    # Same boxes (one label per box: `validate` uses predict's NMS), same pixels: what is left
    # is ultralytics' AP interpolation against COCO's (0.0023 apart on this model; its
    # multi-label NMS, used before, made it 0.0107).
    assert abs(ours["map50"] - theirs["map50"]) < 0.01
    assert abs(ours["map50_95"] - theirs["map50_95"]) < 0.01


LOOP_ENV = {
    "FAILFORGE_LOOP__BATCH_SIZE": "16",
    "FAILFORGE_LOOP__MIN_SUPPORT": "4",
    "FAILFORGE_LOOP__REAL_SAMPLE": "24",
    "FAILFORGE_DETECTOR__FINETUNE_EPOCHS": "2",
    "FAILFORGE_GATE__MIN_GAIN": "0.0",
}


def test_two_cycles_end_to_end_with_approval_and_report(
    trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in LOOP_ENV.items():
        monkeypatch.setenv(key, value)
    workspace = _own_copy(trained_workspace, tmp_path / "ws")
    ws = str(workspace)
    result = runner.invoke(app, ["run", "-w", ws, "--cycles", "2", "--budget", "32"])
    assert result.exit_code == 0, result.output
    assert "Waiting for a decision on batch" in result.output
    listed = json.loads(runner.invoke(app, ["batches", "-w", ws, "--json"]).output)
    pending = [b for b in listed if b["status"] == "proposed"]
    assert len(pending) == 1 and pending[0]["images"] > 0
    assert set(pending[0]["scores"]) >= {
        "unrealistic",
        "unrepresentative",
        "unvaried",
        "unoriginal",
    }
    # Every image was checked against its request: the share made as asked, and per condition
    # how many came out otherwise (never more than the 32 images the budget allows).
    as_asked, unmet = pending[0]["scores"]["as_asked"], pending[0]["scores"]["unmet"]
    assert 0 <= as_asked <= 1 and set(unmet) <= {"lighting", "weather", "distance", "crowding"}
    assert all(0 < n <= 32 for n in unmet.values())

    busy = runner.invoke(app, ["run", "-w", ws])
    assert busy.exit_code == 2 and "resume" in busy.output

    from agent.bootstrap import build_deps
    from agent.settings import Settings

    # A reviewer tags one image `reject` in the App: approval leaves it out.
    deps = build_deps(Settings.load(workspace))
    proposed = deps.datasets.where(deps.datasets.batch(pending[0]["id"]), "status", "proposed")
    rejected_id = deps.datasets.samples(proposed)[0].id
    deps.datasets.tag([rejected_id], "reject", synthetic=True)
    approved = runner.invoke(app, ["approve", pending[0]["id"], "-w", ws, "--by", "tester"])
    assert approved.exit_code == 0, approved.output
    statuses = deps.datasets.values(deps.datasets.select([rejected_id], synthetic=True), "status")
    assert statuses == ["rejected"]
    decided = deps.registry.batch(pending[0]["id"])
    assert decided.status == "approved" and decided.image_count == pending[0]["images"] - 1
    again = runner.invoke(app, ["approve", pending[0]["id"], "-w", ws])
    assert again.exit_code == 2 and "already approved" in again.output

    # Cycle 2 waits too; reject it with a reason and the loop ends at its cycle limit.
    listed = json.loads(runner.invoke(app, ["batches", "-w", ws, "--json"]).output)
    pending = [b for b in listed if b["status"] == "proposed"]
    assert len(pending) == 1 and pending[0]["cycle"] == 2
    rejected = runner.invoke(app, ["reject", pending[0]["id"], "-w", ws, "--reason", "too dark"])
    assert rejected.exit_code == 0, rejected.output
    assert "Loop finished" in rejected.output

    deps = build_deps(Settings.load(workspace))
    models = {m.name: m for m in deps.registry.models()}
    assert "v2" in models and models["v2"].parent == "v1"
    # Cycle 1's candidate is promoted or rejected as its gate said, with the gate's reasons.
    gates = [e.payload for e in deps.registry.events() if e.kind == "gate"]
    assert [g["candidate"] for g in gates] == ["v2"]  # cycle 2 was rejected: nothing trained
    assert models["v2"].status == ("incumbent" if gates[0]["promote"] else "rejected")
    assert models["v2"].reason == gates[0]["reasons"] != ""
    # The App's Model Evaluation panel shows the gate's verdict on the candidate's val run.
    verdict = "promoted" if gates[0]["promote"] else "not promoted"
    assert deps.datasets.evaluation_review("v2_val") == (
        "reviewed",
        f"Gate: {verdict}; {models['v2'].reason}",
    )
    assert deps.datasets.evaluation_review("v1_val")[0] is None  # nobody reviewed the baseline
    statuses = {b.status for b in deps.registry.batches()}
    assert {"approved", "rejected"} <= statuses
    approved_view = deps.datasets.where(deps.datasets.synthetic(), "status", "approved")
    assert len(approved_view) > 0
    assert any(name.startswith("cycle 1 failures") for name in deps.datasets.saved_views())
    # Each cycle's slices are a scenario of the Model Evaluation panel; FiftyOne's own subset
    # of a slice holds exactly the val objects discovery counted in it.
    from agent.control.runner import LoopDriver
    from agent.results import Discovery

    scenarios = {s["name"]: s for s in deps.datasets.evaluation_scenarios()}
    assert {"failforge cycle 1 slices", "failforge cycle 2 slices"} <= set(scenarios)
    stored = deps.registry.step_result(f"{LoopDriver(deps).current_id()}/c1/r0/discover_failures")
    found = Discovery.model_validate(stored).slices
    assert scenarios["failforge cycle 1 slices"]["subsets"] == [f.name for f in found]
    for failure in found:
        recall, objects = deps.datasets.subset_recall("v1_val", "slices_c1", failure.name)
        assert objects == failure.support and 0 <= recall <= 1, (failure, recall, objects)
    kinds = {e.kind for e in deps.registry.events()}
    assert {"loop_started", "batch_decided", "gate", "cycle_finished"} <= kinds

    report = runner.invoke(app, ["report", "-w", ws])
    assert report.exit_code == 0, report.output
    reports = workspace / "reports"
    assert (reports / "report.md").is_file() and (reports / "batches.png").is_file()
    assert "| v1 |" in (reports / "report.md").read_text()


def test_fine_tuning_starts_from_the_given_weights(trained_workspace: Path, tmp_path: Path) -> None:
    import torch

    from agent.bootstrap import build_deps
    from agent.settings import Settings
    from storage.workspace import Workspace

    deps = build_deps(Settings.load(trained_workspace))
    v1 = Path(deps.registry.model("v1").path)
    data_yaml = Workspace(trained_workspace).cycle_dir(0) / "data" / "data.yaml"
    result = deps.detector.train(data_yaml, tmp_path / "ft", v1, 1, lr0=1e-12, warmup_epochs=0)

    def first_conv(path: Path) -> torch.Tensor:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        model = checkpoint.get("ema") or checkpoint["model"]
        return next(p for n, p in model.state_dict().items() if n.endswith("conv.weight")).float()

    assert torch.allclose(first_conv(v1), first_conv(result.weights), atol=1e-4)


@pytest.fixture(scope="module")
def openai_cycle(
    trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict]]:
    """One cycle on its own copy, explained by the OpenAI-compatible analyst against a local
    server that answers every slice with the recorded `fenced` answer, approved by a person."""
    from tests.replay_server import RECORDED, ReplayServer, Reply

    workspace = _own_copy(trained_workspace, tmp_path_factory.mktemp("openai") / "ws")
    ws = str(workspace)
    server = ReplayServer()
    url = server.start()
    server.script(Reply(RECORDED["fenced"]))
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in {
                **LOOP_ENV,
                "FAILFORGE_ANALYST__BACKEND": "openai",
                "FAILFORGE_ANALYST__BASE_URL": url,
                "FAILFORGE_ANALYST__TIMEOUT": "10",
            }.items():
                patch.setenv(key, value)
            result = runner.invoke(app, ["run", "-w", ws, "--cycles", "1", "--budget", "16"])
            assert result.exit_code == 0, result.output
            assert "Waiting for a decision on batch" in result.output
            approved = runner.invoke(app, ["approve", _pending_batch(ws)["id"], "-w", ws])
            assert approved.exit_code == 0, approved.output
    finally:
        server.stop()
    return workspace, server.requests


def _analyses(workspace: Path) -> list[dict]:
    from agent.bootstrap import build_deps
    from agent.settings import Settings

    deps = build_deps(Settings.load(workspace))
    return [e.payload for e in deps.registry.events() if e.kind == "analysis"]


def test_a_cycle_with_the_openai_analyst_against_a_local_server(
    openai_cycle: tuple[Path, list[dict]],
) -> None:
    from agent.bootstrap import build_deps
    from agent.settings import Settings

    workspace, requests = openai_cycle
    deps = build_deps(Settings.load(workspace))
    assert [e.kind for e in deps.registry.events() if e.kind == "analyst_fallback"] == []
    analyses = _analyses(workspace)
    assert len(analyses) == 1 and analyses[0]["analyst"] == "openai"
    hypotheses = analyses[0]["hypotheses"]
    # One request per failure slice, and each hypothesis is the server's answer, not a fallback.
    assert len(requests) == len(hypotheses) > 0
    for hypothesis in hypotheses:
        assert (hypothesis["what_fails"], hypothesis["why"]) == (
            "cars in fog",
            "haze removes contrast",
        )
        given = {k: v for k, v in hypothesis["conditions"].items() if v is not None}
        assert given == {"weather": "fog"} and hypothesis["classes"] == ["car"]


def test_export_analyses_writes_sharegpt_records(
    openai_cycle: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    workspace, _ = openai_cycle
    out = tmp_path / "analyses.jsonl"
    result = runner.invoke(app, ["export-analyses", "-w", str(workspace), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    # One conversation per hypothesis of the approved cycle, answering with the analyst's words.
    (analysis,) = _analyses(workspace)
    answers = [json.loads(r["messages"][2]["content"]) for r in records]
    assert [a["what_fails"] for a in answers] == [h["what_fails"] for h in analysis["hypotheses"]]
    # Each prompt is the one the analyst saw: the slice's own support and recall, not zeros.
    shown = {e["slice_name"]: e for e in analysis["evidence"]}
    for record, hypothesis in zip(records, analysis["hypotheses"], strict=True):
        seen = shown[hypothesis["slice_name"]]
        text = f"{seen['support']} objects, recall {seen['recall']:.2f}"
        assert seen["support"] > 0 and text in record["messages"][1]["content"]
    first = records[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["messages"][1]["content"].count("<image>") == len(first["images"]) > 0
    assert all(Path(p).is_file() for p in first["images"])


def test_a_cycle_with_diffusers_and_grounded_sam_on_two_images(
    trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = _own_copy(trained_workspace, tmp_path / "ws")
    from tests.backends.tiny_models import (
        build_tiny_clip,
        build_tiny_grounding_dino,
        build_tiny_sam,
        build_tiny_stable_diffusion,
    )

    build_tiny_stable_diffusion(tmp_path / "sd")
    build_tiny_clip(tmp_path / "clip")
    build_tiny_grounding_dino(tmp_path / "dino")
    build_tiny_sam(tmp_path / "sam")
    settings = {
        **LOOP_ENV,
        "FAILFORGE_LOOP__BATCH_SIZE": "2",
        "FAILFORGE_BACKENDS__GENERATOR": "diffusers",
        "FAILFORGE_GENERATOR__MODEL": str(tmp_path / "sd"),
        "FAILFORGE_GENERATOR__DEVICE": "cpu",
        "FAILFORGE_GENERATOR__DTYPE": "float32",
        "FAILFORGE_GENERATOR__STEPS": "2",
        # A random CLIP's similarities mean nothing: keep every image, but check each one.
        "FAILFORGE_GENERATOR__CLIP_MODEL": str(tmp_path / "clip"),
        "FAILFORGE_GENERATOR__CLIP_THRESHOLD": "-1",
        "FAILFORGE_BACKENDS__LABELER": "grounded-sam",
        "FAILFORGE_LABELER__DETECTOR_MODEL": str(tmp_path / "dino"),
        "FAILFORGE_LABELER__SAM_MODEL": str(tmp_path / "sam"),
        "FAILFORGE_LABELER__BOX_THRESHOLD": "0.0",
        "FAILFORGE_LABELER__TEXT_THRESHOLD": "0.0",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    ws = str(workspace)
    doctor = runner.invoke(app, ["doctor", "-w", ws, "--json"])
    assert doctor.exit_code == 0, doctor.output
    in_use = {c["backend"] for c in json.loads(doctor.output) if c["configured"]}
    assert in_use >= {"diffusers", "grounded-sam"}
    result = runner.invoke(app, ["run", "-w", ws, "--cycles", "1", "--budget", "2"])
    assert result.exit_code == 0, result.output
    assert "Waiting for a decision on batch" in result.output  # no --auto-approve: a person decides
    batch = _pending_batch(ws)

    from agent.bootstrap import build_deps
    from agent.settings import Settings

    deps = build_deps(Settings.load(workspace))
    view = deps.datasets.batch(batch["id"])
    assert len(view) == 2  # two requested, two made
    # Each image was checked against its prompt by CLIP (kept: the bar is -1).
    assert batch["scores"]["as_asked"] == 1.0 and batch["scores"]["unmet"] == {}
    similarity = deps.datasets.values(view, "request_agreement")
    assert len(similarity) == 2 and all(-1 <= s <= 1 for s in similarity)
    assert set(deps.datasets.values(view, "generator")) == {"diffusers"}
    assert set(deps.datasets.values(view, "labeler")) == {"grounded-sam"}
    assert all(q is not None for q in deps.datasets.values(view, "label_quality"))
    # What the batch offers is what the filters kept, and they kept something.
    kept = deps.datasets.where(view, "status", "proposed")
    assert batch["images"] == len(kept) >= 1
    approved = runner.invoke(app, ["approve", batch["id"], "-w", ws])
    assert approved.exit_code == 0, approved.output
    assert deps.registry.batch(batch["id"]).status == "approved"


def test_doctor_explains_what_cannot_run(
    trained_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAILFORGE_BACKENDS__GENERATOR", "diffusers")
    monkeypatch.setenv("FAILFORGE_GENERATOR__MODEL", "nobody/missing-model")
    monkeypatch.setenv("FAILFORGE_GENERATOR__DEVICE", "cuda")
    result = runner.invoke(app, ["doctor", "-w", str(trained_workspace), "--json"])
    assert result.exit_code == 1
    checks = json.loads(result.output)
    generator = next(c for c in checks if c["tool"] == "generator" and c["configured"])
    assert not generator["ok"] and "not in the local Hugging Face cache" in generator["reason"]
    # Every backend and engine is listed, in use or not, each with why it can or cannot run.
    listed = {(c["tool"], c["backend"]) for c in checks}
    assert {("analyst", "qwen"), ("analyst", "openai"), ("labeler", "grounded-sam")} <= listed
    assert {("engine", "postgres"), ("engine", "ray")} <= listed
    assert all(c["reason"] for c in checks)
