"""The CLI's tables, each sized to read in an 80-column terminal, and the JSON its `--json` prints.

A table keeps a row on one line at 80 columns: headers are short, numbers never wrap, a batch id
inside its loop's table is shortened to its cycle and revision (the caption says how to read the
full one), and only free text (a slice name, a reason) folds within its own column.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from agent.control.runner import LoopOutcome

# The narrowest terminal the tables are made for (tests render them at this width).
WIDTH = 80
SCORES = ("unrealistic", "unrepresentative", "unvaried", "unoriginal")
SCORE_HEADERS = ("unreal", "unrep", "unvar", "unorig")


@dataclasses.dataclass(frozen=True)
class Column:
    """A column: its header, alignment, and whether its text may fold onto more lines."""

    header: str
    right: bool = False
    fold: bool = False
    max_width: int | None = None


def make_table(title: str, columns: Sequence[Column], caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption, caption_justify="left")
    for c in columns:
        table.add_column(
            c.header,
            justify="right" if c.right else "left",
            no_wrap=not c.fold,
            overflow="fold",
            max_width=c.max_width,
        )
    return table


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def change(before: float | None, after: float | None) -> str:
    """`0.512→0.560`, or `-` when either side was not measured."""
    return "-" if before is None or after is None else f"{before:.3f}→{after:.3f}"


def short_batch_id(batch_id: str | None, loop_id: str) -> str:
    """`c1-r0` for `<loop_id>-c1-r0`: the cycle and revision, within a table of that loop."""
    if batch_id is None:
        return "-"
    return batch_id.removeprefix(f"{loop_id}-")


# -- the loop ----------------------------------------------------------------------------------
def cycle_table(loop_id: str, history: Iterable[Any]) -> Table:
    """One row per finished cycle (`CycleRecord`s): batch, decision, model, val objective, mAP50."""
    table = make_table(
        f"loop {loop_id}",
        [
            Column("cycle", right=True),
            Column("batch"),
            Column("decision"),
            Column("images", right=True),
            Column("model"),
            Column("objective"),
            Column("val mAP50"),
        ],
        caption=f"batch c1-r0 is {loop_id}-c1-r0 (failforge batches lists full ids)",
    )
    for r in history:
        model = (
            "-" if r.candidate is None else f"{r.candidate} {'promoted' if r.promoted else 'kept'}"
        )
        table.add_row(
            str(r.cycle),
            short_batch_id(r.batch_id, loop_id),
            "-" if r.batch_id is None else ("approved" if r.approved else "rejected"),
            str(r.images),
            model,
            change(r.objective_before, r.objective_after),
            change(r.map50_before, r.map50_after),
        )
    return table


def outcome_json(outcome: LoopOutcome) -> dict[str, Any]:
    """A `LoopOutcome` as `--json` prints it: where the loop stands and every finished cycle."""
    state, waiting = outcome.state, outcome.waiting
    return {
        "loop_id": outcome.loop_id,
        "finished": outcome.finished,
        "stop_reason": outcome.stop_reason,
        "waiting": None if waiting is None else waiting.model_dump(mode="json"),
        "cycles": [] if state is None else [r.model_dump(mode="json") for r in state.history],
    }


# -- models and data ---------------------------------------------------------------------------
def status_table(payload: Mapping[str, Any]) -> Table:
    """The incumbent's metrics on a split, overall, per class, per world slice and per slice
    discovery found (`queries.status_payload`)."""
    table = make_table(
        f"incumbent {payload['incumbent']['name']} on {payload['split']}",
        [
            # 21: what 80 columns leave beside the six numbers (37) and the rules (22).
            Column("slice", fold=True, max_width=21),
            Column("images", right=True),
            Column("objects", right=True),
            Column("mAP50", right=True),
            Column("mAP50-95", right=True),
            Column("prec", right=True),
            Column("recall", right=True),
        ],
    )
    rows = [
        ("overall", payload["metrics"] or {}),
        *payload.get("classes", {}).items(),
        *sorted(payload["slices"].items()),
        *payload.get("found_slices", {}).items(),
    ]
    for name, m in rows:
        table.add_row(
            name,
            str(m.get("images", "-")),
            str(m.get("objects", "-")),
            fmt(m.get("map50")),
            fmt(m.get("map50_95")),
            fmt(m.get("precision")),
            fmt(m.get("recall")),
        )
    return table


def checks_table(checks: Iterable[Mapping[str, Any]]) -> Table:
    """The newest counterfactual verdicts (`queries.latest_checks`): per blamed factor, misses
    found after the edit and after the placebo, the difference with its 95% interval."""
    table = make_table(
        "hypotheses checked on their misses",
        [
            Column("slice", fold=True, max_width=21),
            Column("blamed", fold=True, max_width=18),
            Column("edit", right=True),
            Column("placebo", right=True),
            Column("diff (95% CI)", right=True),
            Column("verdict"),
        ],
    )
    for c in checks:
        known = c["difference"] is not None
        table.add_row(
            c["slice"],
            c["blamed"] or "-",
            f"{c['edit_recovered']:.0%} of {c['misses']}" if known else "-",
            f"{c['placebo_recovered']:.0%}" if known else "-",
            f"{c['difference']:+.2f} ({c['low']:+.2f}, {c['high']:+.2f})" if known else "-",
            c["verdict"],
        )
    return table


def split_table(title: str, counts: Mapping[str, int], skipped: int) -> Table:
    """Images per split of a new workspace, and how many files were skipped."""
    table = make_table(title, [Column("split"), Column("images", right=True)])
    for split, count in counts.items():
        table.add_row(split, str(count))
    table.add_row("skipped", str(skipped))
    return table


def summary_json(summary: Any) -> dict[str, Any]:
    """A dataclass of results (e.g. `InitSummary`) as JSON-ready data, paths as text."""
    return json.loads(json.dumps(dataclasses.asdict(summary), default=str))


def before_after_table(rows: Iterable[Mapping[str, Any]], before: str, after: str) -> Table:
    """Recall and mAP50 per slice of two models (`report.slice_table` rows)."""
    table = make_table(
        f"test split (world truth): {before} -> {after}",
        [
            Column("slice", fold=True, max_width=28),
            Column(f"recall {before}", right=True),
            Column(f"recall {after}", right=True),
            Column(f"mAP50 {before}", right=True),
            Column(f"mAP50 {after}", right=True),
        ],
    )
    for row in rows:
        table.add_row(
            row["slice"],
            fmt(row["recall_before"]),
            fmt(row["recall_after"]),
            fmt(row["map50_before"]),
            fmt(row["map50_after"]),
        )
    return table


# -- batches, backends, benchmark --------------------------------------------------------------
def batches_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    """Every batch (`queries.batch_rows`) with its status, images and the four quality scores."""
    table = make_table(
        "batches",
        [
            Column("batch"),
            Column("status"),
            Column("images", right=True),
            *[Column(header, right=True) for header in SCORE_HEADERS],
        ],
        caption="scores, higher is worse: unreal(istic), unrep(resentative), unvar(ied), "
        "unorig(inal); who decided and why: --json",
    )
    for row in rows:
        scores = row.get("scores") or {}
        table.add_row(
            row["id"],
            row["status"],
            str(row["images"]),
            *[fmt(scores.get(name)) for name in SCORES],
        )
    return table


def doctor_table(checks: Iterable[Any]) -> Table:
    """Every backend and engine (`doctor.diagnose`): in use, can it run here, and why not."""
    table = make_table(
        "backends and engines",
        [
            Column("tool"),
            Column("backend"),
            Column("in use"),
            Column("runs"),
            Column("reason", fold=True),
        ],
    )
    for c in checks:
        failed = "[red]no[/red]" if c.configured else "no"
        table.add_row(
            c.tool, c.backend, "yes" if c.configured else "", "yes" if c.ok else failed, c.reason
        )
    return table


def interval_text(block: Mapping[str, Any] | None) -> str:
    """`+0.059 [+0.030, +0.083]` from a gain block ({mean, ci95} or {mean, low, high})."""
    if not block or block.get("mean") is None:
        return "-"
    low, high = block.get("low"), block.get("high")
    if low is None and block.get("ci95"):
        low, high = block["ci95"]
    text = f"{block['mean']:+.3f}"
    if low is not None and high is not None:
        text += f" [{low:+.3f}, {high:+.3f}]"
    # bench.json's verdict: an interval that holds 0 decides nothing.
    return text + (" ?" if block.get("verdict") == "undecided" else "")


def bench_table(result: Mapping[str, Any]) -> Table:
    """Each arm's recall gain on the two worst test slices net of `none` (bench.json), with 95%
    intervals: the gated model (what the loop ships) and the last candidate."""
    worst = result.get("worst_slices") or []
    table = make_table(
        "net of none, worst two: " + (", ".join(worst) or "-"),
        [
            # 10: what 80 columns leave beside two marked intervals (2 x 26), mAP50 and the rules.
            Column("arm", fold=True, max_width=10),
            Column("gated"),
            Column("last candidate"),
            Column("mAP50", right=True),
        ],
        caption="mean recall gain over the seeds [95% interval]; ? the interval holds 0 "
        "(undecided); every table and the targets: bench.md",
    )
    for arm, block in result["arms"].items():
        gains = [(block.get(key) or {}).get("worst2") for key in ("net_gain", "candidate_net_gain")]
        table.add_row(
            arm,
            # `none` net of itself is 0 by construction: nothing to show.
            *["-" if arm == "none" else interval_text(gain) for gain in gains],
            fmt((block.get("overall") or {}).get("map50")),
        )
    return table
