"""A sweep world's facts read back from its arms' workspaces (real LangGraph checkpoints and
registry from a loop with its work faked: nothing trains), without writing to them, and the
sweep's diagnosis written from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.control.runner import LoopDriver
from agent.control.sweep_facts import read_only_uri, world_facts
from agent.control.world_sweep import run_world_sweep
from agent.graph import sqlite_checkpointer
from agent.results import Discovery
from agent.state import LoopState
from agent.steps import batch_id_for
from evaluation.slices import FailureSlice
from tests.fakes import FakeWork, fake_deps
from tools.generator.base import GenerationRequest
from tools.world.config import WorldConfig
from tools.world.draw import draw_worlds
from tools.world.field import field_image_conditions

WORST = ["distance=far", "crowding=dense"]
FIELD = {
    "distance": {"near": 0.5, "mid": 0.3, "far": 0.2},
    "crowding": {"sparse": 0.9, "dense": 0.1},
}
WORLD = WorldConfig(seed=7, image_size=64, conditions=FIELD)
SOURCE = "/elsewhere/base/images/field/train/train_00003.jpg"


class AimedWork(FakeWork):
    """The fake loop's work, discovering `named` and planning three generated images under
    `aimed` and one edit re-staging a field image (asked far and dense, its layout kept)."""

    def __init__(self, named: dict[str, str], aimed: dict[str, str], **kw: Any) -> None:
        super().__init__(**kw)
        self.named, self.aimed = named, aimed

    def discover(self, state: LoopState) -> Discovery:
        failure = FailureSlice(
            name=" & ".join(f"{k}={v}" for k, v in self.named.items()),
            conditions=self.named,
            support=40,
            recall=0.3,
            deficit=0.3,
            score=0.1,
        )
        return Discovery(slices=[failure], edges={})

    def plan(self, state: LoopState) -> list[GenerationRequest]:
        made = [
            GenerationRequest(
                id=f"{batch_id_for(state)}-{i}",
                slice_name="s",
                prompt="p",
                seed=i,
                conditions=self.aimed,
            )
            for i in range(3)
        ]
        edit = GenerationRequest(
            id=f"{batch_id_for(state)}-edit",
            slice_name="s",
            prompt="p",
            seed=9,
            conditions={**self.aimed, "distance": "far", "crowding": "dense"},
            mode="edit",
            source_path=SOURCE,
            source_boxes=[(10.0, 30.0, 30.0, 50.0, "car")],
        )
        return [*made, edit]


def _evaluation(worst2: float) -> dict[str, Any]:
    return {"slices": {w: {"recall": worst2} for w in WORST}}


def _arm(root: Path, work: AimedWork, gated: float, last: float) -> None:
    """An arm's workspace after two cycles of its (faked) loop, with its arm.json."""
    deps = fake_deps(root, work)
    LoopDriver(deps).start(cycles=2, budget=100, auto_approve=True)
    # As a finished benchmark's process leaves it: its checkpoints closed, their log folded in.
    sqlite_checkpointer(deps.workspace.checkpoint_file).conn.close()
    sqlite_checkpointer.cache_clear()
    assert not deps.workspace.checkpoint_file.with_name("checkpoints.sqlite-wal").exists()
    (root / "world.yaml").write_text(yaml.safe_dump(WORLD.model_dump(mode="json")))
    stored = {
        "cycles": [_evaluation(0.0), _evaluation(gated)],
        "last_candidate": {"test": _evaluation(last)},
    }
    (root / "arm.json").write_text(json.dumps(stored))


def _world(folder: Path, seed: int) -> dict[str, Any]:
    """A world's bench.json and its targeted (far, dense, discovered small objects) and uniform
    (near, sparse, discovered bright images) arms; targeted's last candidate ahead, not kept."""
    arms = folder / f"seed{seed}"
    targeted = AimedWork(
        {"box_size": "lowest"},
        {"lighting": "night", "distance": "far", "crowding": "dense"},
        promote=[False, False],
    )
    _arm(arms / "targeted", targeted, gated=0.30, last=0.50)
    uniform = AimedWork({"brightness": "high"}, {"distance": "near"}, promote=[True, False])
    _arm(arms / "uniform", uniform, gated=0.35, last=0.35)
    result = {"seeds": [seed], "worst_slices": WORST, "world": WORLD.model_dump(mode="json")}
    return result


def _files(folder: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


def test_the_facts_of_each_cycle_are_read_back_without_writing(tmp_path: Path) -> None:
    result = _world(tmp_path, 3)
    before = _files(tmp_path)
    facts = world_facts(tmp_path, result)
    assert _files(tmp_path) == before  # no lock, journal or shared-memory file, nothing touched
    assert facts is not None and facts.worst_slices == WORST
    assert facts.field_share == {"distance=far": 0.2, "crowding=dense": 0.1}
    targeted, uniform = facts.arms["targeted"], facts.arms["uniform"]
    assert [c.cycle for c in targeted.cycles] == [1, 2]
    assert [s.name for c in targeted.cycles for s in c.loop_slices] == ["box_size=lowest"] * 2
    assert [c.promoted for c in targeted.cycles] == [False, False]
    assert [c.promoted for c in uniform.cycles] == [True, False]
    # Three generated far and dense, one edit whose layout is the field image's own.
    source = field_image_conditions(WORLD, SOURCE)
    assert source is not None and source.distance == "mid"
    assert [(c.images, c.scenes["distance=far"]) for c in targeted.cycles] == [(4, 3)] * 2
    assert targeted.cycles[0].scenes["distance=mid"] == 1
    assert targeted.cycles[0].scenes["lighting=night"] == 4
    assert (targeted.worst2, targeted.candidate_worst2) == (0.30, 0.50)
    found = world_facts(tmp_path, {**result, "seeds": [3, 4]})
    assert found is None  # more than one seed: not a sweep's world


def test_unfinished_or_unreadable_arms_are_left_out(tmp_path: Path) -> None:
    result = _world(tmp_path, 3)
    (tmp_path / "seed3" / "uniform" / "arm.json").unlink()  # still running
    facts = world_facts(tmp_path, result)
    assert facts is not None and list(facts.arms) == ["targeted"]
    (tmp_path / "seed3" / "targeted" / "checkpoints.sqlite").write_bytes(b"not a database" * 99)
    facts = world_facts(tmp_path, result)
    assert facts is not None and facts.arms == {}
    (tmp_path / "seed3" / "uniform" / "arm.json").write_text(json.dumps({"cycles": []}))
    assert world_facts(tmp_path, result) == facts  # an arm.json without cycles: left out


def test_a_sweep_read_back_from_finished_worlds_says_where_targeting_lost(tmp_path: Path) -> None:
    (world,) = draw_worlds(1, 5)
    folder = tmp_path / world.name
    result = _world(folder, world.config.seed)
    arms = {"none": {}, "targeted": {}, "uniform": {}}
    bench = {**result, "arms": arms}
    (folder / "world.yaml").write_text(yaml.safe_dump(world.config.model_dump(mode="json")))
    (folder / "bench.json").write_text(json.dumps(bench))
    said: list[str] = []
    sweep = run_world_sweep(tmp_path, 1, 5, 300, 2, say=said.append)
    assert said == []  # read back, nothing ran
    diagnosis = json.loads((tmp_path / "sweep.json").read_text())["diagnosis"][world.name]
    assert diagnosis == sweep["diagnosis"][world.name]
    assert diagnosis["lost_at"] == "gate" and diagnosis["touched"] == ["distance=far"]
    assert diagnosis["promoted"] == {"targeted": [0, 2], "uniform": [1, 2]}
    assert diagnosis["facts"]["arms"]["targeted"]["cycles"][0]["images"] == 4
    assert "| gate |" in (tmp_path / "sweep.md").read_text()


@pytest.mark.parametrize("unsaved", [False, True])
def test_sqlite_files_are_opened_immutable_unless_a_log_holds_unsaved_pages(
    tmp_path: Path, unsaved: bool
) -> None:
    path = tmp_path / "odd name?.sqlite"
    if unsaved:
        path.with_name(f"{path.name}-wal").write_bytes(b"x")
    uri = read_only_uri(path)
    assert uri.startswith("file:") and "odd%20name%3F.sqlite" in uri
    assert uri.endswith("mode=ro" if unsaved else "immutable=1")
