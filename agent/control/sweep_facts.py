"""A sweep world's facts for its diagnosis, read from its finished arms' workspaces without writing.

Per arm (out/<world>/seed<s>/<arm>): arm.json (the gated model after the last cycle and the last
candidate on `test`), the registry (what discovery named each cycle), the loop's checkpoints
(each cycle's record, and the requests of each approved batch) and world.yaml (the field images
an edit re-stages): the procedural generator's `rendered_conditions` gives each request's scene.
They are the scenes of the requests of approved batches: which few images the batch scores
dropped only the FiftyOne dataset knows, and a sweep's process opens no world's database (each
world's benchmark keeps its own).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from agent.control.runner import CURRENT_LOOP_FILE
from agent.graph import CHECKPOINT_TYPES
from agent.results import Discovery
from agent.state import CycleRecord
from evaluation.sweep_diagnosis import ArmFacts, CycleFacts, LoopSlice, WorldFacts
from storage.registry import Registry
from storage.workspace import Workspace
from tools.generator.base import GenerationRequest
from tools.generator.procedural import rendered_conditions
from tools.world.config import WorldConfig, read_world

# The world file of a bench workspace (the settings' default `world`), its seed the bench seed's.
WORLD_FILE = "world.yaml"
# What reading a workspace's records can raise when it is unfinished, moved or damaged.
UNREADABLE = (OSError, ValueError, LookupError, TypeError, sqlite3.Error, SQLAlchemyError)


def world_facts(
    folder: Path, result: Mapping[str, Any], arms: Sequence[str] = ("targeted", "uniform")
) -> WorldFacts | None:
    """The facts of one world from its bench.json (`result`) and its arms' workspaces; arms not
    finished or not readable are left out, and a benchmark of more than one seed gives None."""
    seeds = result.get("seeds") or []
    worst = list(result.get("worst_slices") or [])
    if len(seeds) != 1 or not worst:
        return None
    found = {}
    for arm in arms:
        facts = arm_facts(folder / f"seed{seeds[0]}" / arm, worst)
        if facts is not None:
            found[arm] = facts
    return WorldFacts(
        worst_slices=worst,
        field_share={
            v: _prior((result.get("world") or {}).get("conditions") or {}, v) for v in worst
        },
        arms=found,
    )


def arm_facts(root: Path, worst: Sequence[str]) -> ArmFacts | None:
    """One arm's facts; None until its arm.json is written, or when its records cannot be read
    (a benchmark of photographs has no world.yaml: no scene to read)."""
    try:
        stored = json.loads((root / "arm.json").read_text())
        loop_id = json.loads((root / CURRENT_LOOP_FILE).read_text())["loop_id"]
        world = read_world(root / WORLD_FILE)
        history, requests = _loop_records(Workspace(root).checkpoint_file, loop_id)
        named = _discoveries(Workspace(root).registry_file, loop_id, [r.cycle for r in history])
        cycles = [
            _cycle(record, named.get(record.cycle, []), requests, world) for record in history
        ]
        return ArmFacts(
            cycles=cycles,
            worst2=_worst2(stored["cycles"][-1], worst),
            candidate_worst2=_worst2((stored.get("last_candidate") or {}).get("test"), worst),
        )
    except UNREADABLE:
        return None


def _cycle(
    record: CycleRecord,
    named: list[LoopSlice],
    requests: Mapping[str, list[GenerationRequest]],
    world: WorldConfig,
) -> CycleFacts:
    """A cycle's facts; the scenes of its batch when the batch was approved."""
    made = requests.get(record.batch_id or "", []) if record.approved else []
    scenes = [s for s in (rendered_conditions(r, world) for r in made) if s is not None]
    counts = Counter(f"{k}={v}" for scene in scenes for k, v in scene.items())
    return CycleFacts(
        cycle=record.cycle,
        loop_slices=named,
        approved=record.approved,
        promoted=record.promoted,
        images=len(scenes),
        scenes=dict(counts),
    )


def read_only_uri(path: Path) -> str:
    """A SQLite URI that opens `path` without writing anything: immutable (no lock, no shared
    memory file) unless a write-ahead log with content is beside it (its writer still open, or
    killed before it closed); then read-only, which reads the log and may touch its shared-memory
    file. A sweep reads a world once its benchmark's process has ended: its logs are folded in."""
    log = path.with_name(f"{path.name}-wal")
    unsaved = log.is_file() and log.stat().st_size > 0
    return f"file:{quote(path.as_posix())}?{'mode=ro' if unsaved else 'immutable=1'}"


def _loop_records(
    path: Path, loop_id: str
) -> tuple[list[CycleRecord], dict[str, list[GenerationRequest]]]:
    """The loop's finished cycles and, per batch, the requests that made it (the state's requests
    when the batch first appears: plan_batch wrote them, generate_images made the batch)."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

    if not path.is_file():
        raise FileNotFoundError(path)
    with closing(sqlite3.connect(read_only_uri(path), uri=True, check_same_thread=False)) as db:
        saver = SqliteSaver(db, serde=JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES))
        thread = saver.list({"configurable": {"thread_id": loop_id}})
        states = [c.checkpoint["channel_values"] for c in thread]
    if not states:
        raise KeyError(loop_id)
    history = [CycleRecord.model_validate(r) for r in states[0].get("history", [])]
    return history, _batch_requests(reversed(states))


def _batch_requests(states: Iterable[Mapping[str, Any]]) -> dict[str, list[GenerationRequest]]:
    """Per batch id, the requests beside it in the first state (oldest first) that holds it."""
    found: dict[str, list[GenerationRequest]] = {}
    for values in states:
        batch = values.get("batch")
        if batch is None:
            continue
        batch_id = batch["batch_id"] if isinstance(batch, Mapping) else batch.batch_id
        if batch_id not in found:
            found[batch_id] = [
                GenerationRequest.model_validate(r) for r in values.get("requests", [])
            ]
    return found


def _discoveries(path: Path, loop_id: str, cycles: Sequence[int]) -> dict[int, list[LoopSlice]]:
    """Per cycle, the slices discovery named on `val` (its first revision's, as bench.py reads
    them into arm.json's loop_slices)."""
    if not path.is_file():
        raise FileNotFoundError(path)
    registry = Registry(f"sqlite:///{read_only_uri(path)}&uri=true")
    named: dict[int, list[LoopSlice]] = {}
    for cycle in cycles:
        stored = registry.step_result(f"{loop_id}/c{cycle}/r0/discover_failures")
        if stored is None:
            continue
        try:
            discovery = Discovery.model_validate(stored)
        except ValidationError:
            continue
        named[cycle] = [LoopSlice(name=s.name, conditions=s.conditions) for s in discovery.slices]
    return named


def _worst2(evaluation: Mapping[str, Any] | None, worst: Sequence[str]) -> float | None:
    """Mean recall on the worst slices, as bench.py's `worst2` (None if one is unmeasured)."""
    if not evaluation:
        return None
    recalls = [(evaluation.get("slices") or {}).get(w, {}).get("recall") for w in worst]
    if not recalls or any(r is None for r in recalls):
        return None
    return float(sum(recalls) / len(recalls))


def _prior(conditions: Mapping[str, Mapping[str, float]], value: str) -> float | None:
    """A 'condition=value' share of the world's field (train) prior."""
    condition, _, name = value.partition("=")
    share = (conditions.get(condition) or {}).get(name)
    return None if share is None else float(share)
