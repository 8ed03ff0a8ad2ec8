"""The loop's commands: run, resume, batches, approve, reject, report and demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from agent.entry.cli_common import (
    UsageError,
    WorkspaceOption,
    _deps,
    app,
    console,
    errors,
    friendly,
    progress_bars,
)
from agent.entry.tables import batches_table, before_after_table, cycle_table, outcome_json
from storage.workspace import Workspace

if TYPE_CHECKING:
    from agent.control.runner import LoopOutcome
    from agent.state import ApprovalRequest, Decision

JsonOption = typer.Option(False, "--json", help="print JSON (progress goes to standard error)")


def _observer(out: Console = console) -> Callable[[str, dict[str, Any]], None]:
    def observe(node: str, update: dict[str, Any]) -> None:
        detail = ""
        if node == "discover_failures" and update.get("slices"):
            detail = "; ".join(f"{s.name} (recall {s.recall:.2f})" for s in update["slices"])
        elif node == "score_batch" and update.get("batch"):
            batch = update["batch"]
            scores = batch.scores.model_dump() if batch.scores else {}
            detail = f"{batch.kept} kept, " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items())
        elif node == "check_hypotheses" and update.get("counterfactuals"):
            checked = update["counterfactuals"]
            detail = "; ".join(f"{name}: {v}" for name, v in checked.verdicts().items())
            detail = f"{detail} ({checked.seconds:.0f} s)" if detail else "nothing to check"
        elif node == "gate_candidate" and update.get("gate"):
            verdict = update["gate"]
            detail = ("PROMOTED " if verdict.promote else "kept incumbent: ") + "; ".join(
                verdict.reasons
            )
        elif node == "decide_next" and update.get("stop_reason"):
            detail = f"stop: {update['stop_reason']}"
        out.print(f"[bold]{node}[/bold] {detail}", highlight=False, soft_wrap=True)

    return observe


@contextmanager
def _showing_progress(deps: Any, to_stderr: bool = False) -> Iterator[Any]:
    """Progress bars for the loop's long steps (training epochs) while a loop runs."""
    from agent.ports import no_progress

    with progress_bars(to_stderr) as progress:
        deps.progress = progress
        try:
            yield deps
        finally:
            deps.progress = no_progress


def _print_outcome(outcome: LoopOutcome, as_json: bool = False) -> None:
    if as_json:
        sys.stdout.write(json.dumps(outcome_json(outcome), indent=2, default=str) + "\n")
        return
    state = outcome.state
    if state is not None and state.history:
        console.print(cycle_table(outcome.loop_id, state.history))
    if outcome.waiting is not None:
        w = outcome.waiting
        scores = w.scores.model_dump() if w.scores else None
        console.print(
            f"Waiting for a decision on batch [bold]{w.batch_id}[/bold] "
            f"({w.images} images; scores {scores}). "
            f"Look at the FiftyOne view '{w.fiftyone_view}', then: {w.how_to_decide}",
            highlight=False,
            soft_wrap=True,
        )
    elif outcome.finished:
        console.print(f"Loop finished: {outcome.stop_reason}.")


@app.command()
@friendly
def run(
    workspace: Path = WorkspaceOption,
    cycles: int | None = typer.Option(None, min=1, help="cycle limit (default: settings)"),
    budget: int | None = typer.Option(None, min=1, help="image budget (default: settings)"),
    auto_approve: bool = typer.Option(
        False, "--auto-approve", help="approve batches whose scores pass the thresholds"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Start a loop: find failures, generate targeted data, retrain, gate, cycle after cycle."""
    from agent.control.runner import LoopDriver

    deps = _deps(workspace)
    if deps.registry.incumbent() is None:
        raise UsageError("No model yet; train the baseline first with `failforge baseline`.")
    loop = deps.settings.loop
    with _showing_progress(deps, as_json):
        outcome = LoopDriver(deps).start(
            cycles or loop.cycles,
            budget or loop.budget,
            auto_approve or loop.auto_approve,
            _observer(errors if as_json else console),
        )
    _print_outcome(outcome, as_json)


@app.command()
@friendly
def resume(workspace: Path = WorkspaceOption, as_json: bool = JsonOption) -> None:
    """Continue the current loop where it stopped (after a crash, or to see what it waits for)."""
    from agent.control.runner import LoopDriver

    with _showing_progress(_deps(workspace), as_json) as deps:
        outcome = LoopDriver(deps).resume(observe=_observer(errors if as_json else console))
    _print_outcome(outcome, as_json)


@app.command()
@friendly
def stop(
    workspace: Path = WorkspaceOption,
    by: str = typer.Option("cli", help="who stops it"),
) -> None:
    """End the current loop for good (a waiting or crashed one); a new `failforge run` may start."""
    from agent.control.runner import LoopDriver

    outcome = LoopDriver(_deps(workspace)).stop(by)
    console.print(
        "No loop to stop." if outcome is None else f"Loop {outcome.loop_id}: {outcome.stop_reason}."
    )


@app.command()
@friendly
def batches(
    workspace: Path = WorkspaceOption,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Every batch with its cycle, status, image count and quality scores."""
    deps = _deps(workspace)
    from agent.control.queries import batch_rows

    rows = batch_rows(deps)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    console.print(batches_table(rows))


@app.command()
@friendly
def approve(
    batch_id: str = typer.Argument(..., help="the batch to approve"),
    workspace: Path = WorkspaceOption,
    by: str = typer.Option("cli", help="who decides"),
    as_json: bool = JsonOption,
) -> None:
    """Approve a proposed batch (samples tagged `reject` in the App are left out); the loop goes on."""
    from agent.control.runner import LoopDriver

    out = errors if as_json else console
    with _showing_progress(_deps(workspace), as_json) as deps:
        outcome = LoopDriver(deps).decide(batch_id, True, by, "approved", _observer(out))
    out.print(f"Batch {batch_id} approved.")
    _print_outcome(outcome, as_json)


@app.command()
@friendly
def reject(
    batch_id: str = typer.Argument(..., help="the batch to reject"),
    reason: str = typer.Option(..., "--reason", help="why (kept in the registry)"),
    workspace: Path = WorkspaceOption,
    by: str = typer.Option("cli", help="who decides"),
    as_json: bool = JsonOption,
) -> None:
    """Reject a proposed batch; the cycle ends without training and the loop goes on."""
    from agent.control.runner import LoopDriver

    out = errors if as_json else console
    with _showing_progress(_deps(workspace), as_json) as deps:
        outcome = LoopDriver(deps).decide(batch_id, False, by, reason, _observer(out))
    out.print(f"Batch {batch_id} rejected.")
    _print_outcome(outcome, as_json)


@app.command()
@friendly
def report(workspace: Path = WorkspaceOption) -> None:
    """Write reports/report.md with PNG plots: per-slice recall and mAP, batch scores, promotions."""
    from agent.control.report import write_report
    from agent.control.runner import LoopDriver

    deps = _deps(workspace)
    path = write_report(deps, LoopDriver(deps).current_state())
    console.print(f"Report written to {path}")


def _demo_approver(waiting: ApprovalRequest) -> Decision:
    """A batch whose scores miss the thresholds after every revision waits for a person; in the
    demo the demo itself is that person, and says so in the registry."""
    from agent.state import Decision

    return Decision(approved=True, by="demo", reason="demo approves batches over threshold")


QUICK_WORLD = {"seed": 0, "image_size": 96, "splits": {"train": 160, "val": 80, "test": 120}}
QUICK_SETTINGS = {
    # Small batches: a from-scratch YOLOv8 needs optimiser steps more than images.
    "detector": {"epochs": 30, "finetune_epochs": 5, "imgsz": 96, "batch": 8},
    "loop": {"batch_size": 40, "budget": 120, "min_support": 10, "real_sample": 80},
}


@app.command()
@friendly
def demo(
    directory: Path = typer.Argument(Path("demo-workspace"), help="workspace folder"),
    quick: bool = typer.Option(False, "--quick", help="a small, fast version for smoke runs"),
    cycles: int = typer.Option(3, min=1, help="loop cycles"),
    as_json: bool = JsonOption,
) -> None:
    """The whole story on the demo world: init, baseline, 3 auto-approved cycles, report, before/after."""
    import yaml

    from agent.control.report import ensure_test_metrics, slice_table, write_report
    from agent.control.runner import LoopDriver
    from agent.control.workspaces import init_workspace, train_baseline
    from agent.settings import read_settings_file, write_settings_file

    directory = directory.resolve()
    if not Workspace(directory).settings_file.is_file():
        yaml_path = None
        if quick:
            yaml_path = directory.parent / f".{directory.name}-world.yaml"
            yaml_path.write_text(yaml.safe_dump(QUICK_WORLD))
        with progress_bars(as_json) as progress:
            init_workspace(directory, yaml_path, progress=progress)
        if yaml_path is not None:
            yaml_path.unlink()
        if quick:
            values = read_settings_file(directory)
            values.update({k: {**values.get(k, {}), **v} for k, v in QUICK_SETTINGS.items()})
            write_settings_file(directory, values)
    deps = _deps(directory)
    with progress_bars(as_json) as progress:
        train_baseline(deps, progress)
    observe = _observer(errors if as_json else console)
    with _showing_progress(deps, as_json):
        outcome = LoopDriver(deps).run_to_end(
            cycles, deps.settings.loop.budget, _demo_approver, observe=observe
        )
    if not as_json:
        _print_outcome(outcome)
    path = write_report(deps, outcome.state)
    incumbent = deps.registry.incumbent()
    assert incumbent is not None
    before = ensure_test_metrics(deps, "v1")["test"]
    after = ensure_test_metrics(deps, incumbent.name)["test"]
    rows = slice_table(before, after)
    if as_json:
        summary: dict[str, Any] = {"loop": outcome_json(outcome), "report": str(path)}
        summary.update({"before": "v1", "after": incumbent.name, "test": rows})
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    console.print(before_after_table(rows, "v1", incumbent.name))
    console.print(f"Report: {path}")
