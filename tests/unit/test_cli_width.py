"""The CLI's tables read in an 80-column terminal: no row wraps, no header or value is cut."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from rich.table import Table

from agent.control.doctor import Check
from agent.entry import tables
from agent.state import CycleRecord


def _render(table: Table, width: int) -> list[str]:
    console = Console(width=width, color_system=None, force_terminal=False)
    with console.capture() as captured:
        console.print(table)
    return captured.get().splitlines()


def assert_reads_at_80(table: Table) -> list[str]:
    """At 80 columns the table is exactly what an unbounded terminal shows: nothing wrapped,
    squeezed or cut ("…"), and no line longer than 80."""
    lines = _render(table, tables.WIDTH)
    assert max(len(line) for line in lines) <= tables.WIDTH
    assert not any("…" in line for line in lines), "\n".join(lines)
    assert lines == _render(table, 400), "\n".join(lines)
    return lines


def _header_line(lines: list[str], table: Table) -> str:
    """The row of headers: the one line drawn with the header's heavy rule (┃)."""
    (header,) = [line for line in lines if line.lstrip().startswith("┃")]
    assert str(table.columns[0].header) in header
    return header


# The demo's loop: three cycles, then a long loop's worst case (cycle 12, a revised batch, v13).
HISTORY = [
    CycleRecord(
        cycle=1,
        batch_id="loop3f2a1b-c1-r0",
        approved=True,
        images=150,
        candidate="v2",
        promoted=True,
        objective_before=0.512,
        objective_after=0.560,
        map50_before=0.812,
        map50_after=0.835,
    ),
    CycleRecord(
        cycle=2,
        batch_id="loop3f2a1b-c2-r1",
        approved=False,
        images=148,
        candidate=None,
        promoted=False,
    ),
    CycleRecord(
        cycle=12,
        batch_id="loop3f2a1b-c12-r2",
        approved=True,
        images=1500,
        candidate="v13",
        promoted=False,
        objective_before=0.623,
        objective_after=0.618,
        map50_before=0.851,
        map50_after=0.849,
    ),
]


def test_the_demos_cycle_table_keeps_each_cycle_on_one_line() -> None:
    table = tables.cycle_table("loop3f2a1b", HISTORY)
    lines = assert_reads_at_80(table)
    header = _header_line(lines, table)
    for column in ("cycle", "batch", "decision", "images", "model", "objective", "val mAP50"):
        assert column in header
    rows = [line for line in lines if "0.512→0.560" in line or "c2-r1" in line or "c12-r2" in line]
    assert len(rows) == 3  # each cycle on a line of its own, its batch id shortened
    assert "v2 promoted" in rows[0] and "rejected" in rows[1] and "v13 kept" in rows[2]
    # The caption says how to read the full id.
    assert "loop3f2a1b-c1-r0" in " ".join(lines)


def test_the_batch_ids_the_loop_table_shortens_expand_to_the_full_ones() -> None:
    for record in HISTORY:
        short = tables.short_batch_id(record.batch_id, "loop3f2a1b")
        assert f"loop3f2a1b-{short}" == record.batch_id
    assert tables.short_batch_id(None, "loop3f2a1b") == "-"


STATUS = {
    "incumbent": {"name": "v12"},
    "split": "test",
    "metrics": {
        "images": 12000,
        "objects": 104250,
        "map50": 0.702,
        "map50_95": 0.411,
        "precision": 0.803,
        "recall": 0.655,
    },
    "slices": {
        name: {
            "images": 1200,
            "objects": 10425,
            "map50": 0.5,
            "map50_95": 0.3,
            "precision": 0.7,
            "recall": None,
        }
        for name in ("lighting=night", "crowding=sparse", "class=Platelets", "box_size=lowest")
    },
}


def test_status_fits_with_every_metric_column_whole() -> None:
    table = tables.status_table(STATUS)
    lines = assert_reads_at_80(table)
    header = _header_line(lines, table)
    for column in ("slice", "images", "objects", "mAP50", "mAP50-95", "prec", "recall"):
        assert column in header
    assert any("crowding=sparse" in line and "10425" in line for line in lines)


def test_a_long_slice_name_folds_in_its_own_column_only() -> None:
    long = "haze=high & sharpness=high & overlap=highest"
    payload = {**STATUS, "slices": {long: STATUS["slices"]["lighting=night"]}}
    lines = assert_reads_at_80(tables.status_table(payload))
    row = next(line for line in lines if "haze=high" in line)
    assert "10425" in row and "0.500" in row  # the numbers stay on the name's first line


BATCHES = [
    {
        "id": f"loop3f2a1b-c{cycle}-r{revision}",
        "cycle": cycle,
        "status": status,
        "images": images,
        "scores": {"unrealistic": 0.512, "unrepresentative": 0.9, "unvaried": 0.0},
        "decided_by": "a-reviewer@example.org",
    }
    for cycle, revision, status, images in [(1, 0, "approved", 150), (12, 2, "proposed", 1500)]
]


def test_batches_show_full_ids_and_every_score() -> None:
    table = tables.batches_table(BATCHES)
    lines = assert_reads_at_80(table)
    header = _header_line(lines, table)
    for column in ("batch", "status", "images", *tables.SCORE_HEADERS):
        assert column in header
    row = next(line for line in lines if "loop3f2a1b-c12-r2" in line)
    assert "proposed" in row and "1500" in row and "0.512" in row and "-" in row


def test_doctor_folds_only_the_reason() -> None:
    checks = [
        Check("generator", "diffusers", False, "needs a CUDA device; none here (torch " * 3, True),
        Check("labeler", "grounded-sam", True, "ready", False),
    ]
    table = tables.doctor_table(checks)
    lines = _render(table, tables.WIDTH)
    assert max(len(line) for line in lines) <= tables.WIDTH
    assert not any("…" in line for line in lines)
    header = _header_line(lines, table)
    for column in ("tool", "backend", "in use", "runs", "reason"):
        assert column in header
    assert any("generator" in line and "diffusers" in line for line in lines)
    assert any("labeler" in line and "grounded-sam" in line for line in lines)


BENCH = {
    "worst_slices": ["distance=far", "crowding=dense"],
    "arms": {
        arm: {
            "overall": {"map50": 0.689},
            "net_gain": {
                "worst2": {"mean": -0.059, "ci95": [-0.083, +0.030], "verdict": "undecided"}
            },
            "candidate_net_gain": {"worst2": {"mean": 0.049, "low": 0.030, "high": 0.071}},
        }
        for arm in ("targeted", "oracle", "uniform", "retrieval", "generic", "none")
    },
}


def test_the_bench_summary_fits_with_both_intervals() -> None:
    table = tables.bench_table(BENCH)
    lines = assert_reads_at_80(table)
    row = next(line for line in lines if "retrieval" in line)
    assert "-0.059 [-0.083, +0.030] ?" in row and "+0.049 [+0.030, +0.071]" in row
    none = next(line for line in lines if "│ none" in line)
    assert "0.0" not in none.split("│")[2]  # no gain of `none` over itself


@pytest.mark.parametrize("arm", ["aim-nofocus-combined", "x"])
def test_a_variant_arm_with_a_long_name_still_fits(arm: str) -> None:
    assert_reads_at_80(tables.bench_table({**BENCH, "arms": {arm: BENCH["arms"]["none"]}}))


def test_the_demos_before_after_table_fits() -> None:
    rows = [
        {
            "slice": name,
            "recall_before": 0.526,
            "recall_after": 0.623,
            "map50_before": 0.66,
            "map50_after": None,
        }
        for name in ("overall", "distance=far", "weather=clear")
    ]
    lines = assert_reads_at_80(tables.before_after_table(rows, "v1", "v13"))
    assert any("distance=far" in line and "0.526" in line and "0.623" in line for line in lines)


def test_init_split_counts_fit() -> None:
    assert_reads_at_80(tables.split_table("workspace ws", {"train": 205, "val": 87}, 3))


def test_json_of_a_loop_outcome_carries_every_cycle() -> None:
    from agent.control.runner import LoopOutcome
    from agent.state import LoopState

    state = LoopState(loop_id="loop3f2a1b", max_cycles=3, budget=450, history=HISTORY)
    outcome = LoopOutcome("loop3f2a1b", True, "cycle limit reached", None, state)
    payload = json.loads(json.dumps(tables.outcome_json(outcome)))
    assert payload["finished"] and payload["stop_reason"] == "cycle limit reached"
    assert [c["batch_id"] for c in payload["cycles"]] == [r.batch_id for r in HISTORY]
