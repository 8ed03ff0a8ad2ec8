"""The registry: model lineage, promotion, first-wins batch decisions, step records and events."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.registry import Registry


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry.sqlite")


def test_promotion_retires_the_incumbent_and_keeps_lineage(registry: Registry) -> None:
    registry.add_model("v1", Path("v1.pt"), None, "incumbent", {"val": {"map50": 0.5}})
    registry.add_model("v2", Path("v2.pt"), "v1", "candidate", {}, cycle=1)
    assert registry.next_model_name() == "v3"
    registry.promote("v2", "better on night")
    assert registry.incumbent().name == "v2"
    assert registry.model("v1").status == "retired"
    assert registry.model("v2").parent == "v1" and registry.model("v2").reason == "better on night"
    registry.set_model_status("v2", "rejected", "worse")
    assert registry.incumbent() is None
    with pytest.raises(KeyError):
        registry.promote("v9", "missing")


def test_a_batch_is_decided_once(registry: Registry) -> None:
    registry.add_batch("b1", "loop", 1, 10, {"unvaried": 0.1}, ["a car at night"])
    registry.add_batch("b1", "loop", 1, 99, {}, [])  # adding again changes nothing
    assert registry.batch("b1").image_count == 10
    assert registry.decide_batch("b1", "approved", "alice", "fine", image_count=8)
    assert not registry.decide_batch("b1", "rejected", "bob", "no")
    batch = registry.batch("b1")
    assert (batch.status, batch.decided_by, batch.image_count) == ("approved", "alice", 8)
    with pytest.raises(KeyError):
        registry.decide_batch("nope", "approved", "alice")


def test_step_records_keep_the_first_result_and_events_append(registry: Registry) -> None:
    assert registry.step_result("l/c1/r0/train") is None
    assert registry.record_step("l/c1/r0/train", {"candidate": "v2"}) == {"candidate": "v2"}
    assert registry.record_step("l/c1/r0/train", {"candidate": "v3"}) == {"candidate": "v2"}
    registry.log("gate", "l", 1, "gate_candidate", promote=True)
    registry.log("cycle_finished", "l", 1)
    events = registry.events()
    assert [e.kind for e in events] == ["gate", "cycle_finished"]
    assert events[0].payload == {"promote": True}
    assert [e.kind for e in registry.events(after_id=events[0].id)] == ["cycle_finished"]


def test_a_copied_registry_points_at_the_copied_model_files(registry: Registry) -> None:
    old, new = Path("/old/ws"), Path("/new/ws")
    registry.add_model("v1", old / "models/v1/weights.pt", None, "retired", {"val": {}})
    registry.add_model("v2", old / "models/v2/weights.pt", "v1", "incumbent", {}, cycle=1)
    registry.relocate_models(old, new)
    assert [(m.name, Path(m.path)) for m in registry.models()] == [
        ("v1", new / "models/v1/weights.pt"),
        ("v2", new / "models/v2/weights.pt"),
    ]
    v2 = registry.model("v2")
    assert (v2.parent, v2.status, v2.cycle) == ("v1", "incumbent", 1)
