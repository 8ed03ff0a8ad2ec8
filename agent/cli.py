"""The `failforge` command: set up a workspace, train, run loops, decide batches, inspect results."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="failforge: closed-loop active learning for object detectors.",
)
console = Console()
errors = Console(stderr=True)
log = logging.getLogger("failforge")

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOption = typer.Option(
    Path("."),
    "--workspace",
    "-w",
    envvar="FAILFORGE_WORKSPACE",
    help="workspace folder (default: current folder or FAILFORGE_WORKSPACE)",
)


class UsageError(Exception):
    """A user's mistake: printed as one sentence, exit code 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from agent.runner import BatchDecisionError, LoopBusyError, NoLoopError
    from storage.datasets import DatabaseConflictError
    from storage.importers import ImportError_
    from storage.workspace import WorkspaceError
    from tools.world.config import WorldConfigError

    return (
        UsageError,
        WorkspaceError,
        WorldConfigError,
        ImportError_,
        DatabaseConflictError,
        LoopBusyError,
        NoLoopError,
        BatchDecisionError,
    )


def friendly(command: F) -> F:
    """Turn a user's mistake into one red sentence and exit code 2, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except _user_errors() as error:
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int, int], None]]:
    """A callback (task, done, total) that drives one rich progress bar per task name."""
    with Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bars:
        tasks: dict[str, Any] = {}

        def update(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bars.add_task(task, total=total)
            bars.update(tasks[task], completed=done, total=total)

        yield update


def _deps(workspace: Path) -> Any:
    from agent.deps import build_deps
    from agent.settings import Settings
    from storage.workspace import Workspace

    Workspace(workspace).require()
    return build_deps(Settings.load(workspace))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command()
@friendly
def init(
    directory: Path = typer.Argument(..., help="folder to create the workspace in"),
    world: Path | None = typer.Option(
        None, "--world", help="world.yaml (default world if omitted)"
    ),
    import_path: Path | None = typer.Option(None, "--import", help="your labelled images instead"),
    import_format: str = typer.Option("yolo", "--format", help="yolo or coco"),
) -> None:
    """Create a workspace with field data from the demo world or from your own labelled images."""
    from agent.setup import init_workspace

    if import_format not in ("yolo", "coco"):
        raise UsageError(f"Unknown --format '{import_format}'; use yolo or coco.")
    if world is not None and import_path is not None:
        raise UsageError("Pass either --world or --import, not both.")
    with progress_bars() as progress:
        summary = init_workspace(directory, world, import_path, import_format, progress)
    for path, reason in summary.skipped:
        errors.print(f"[yellow]skipped[/yellow] {path}: {reason}", highlight=False, soft_wrap=True)
    table = Table(title=f"workspace {directory}")
    table.add_column("split")
    table.add_column("images", justify="right")
    for split, count in summary.counts.items():
        table.add_row(split, str(count))
    table.add_row("skipped", str(len(summary.skipped)))
    console.print(table)
    console.print(f"Field data from {summary.source}. Next: failforge baseline -w {directory}")


@app.command()
@friendly
def baseline(
    workspace: Path = WorkspaceOption,
    epochs: int | None = typer.Option(None, help="training epochs (default: settings)"),
) -> None:
    """Train model v1 on `train` and evaluate it on `val` and `test`, overall and per slice."""
    from agent.setup import train_baseline

    deps = _deps(workspace)
    with progress_bars() as progress:
        outcome = train_baseline(deps, progress, epochs)
    if outcome["skipped"]:
        console.print("Baseline v1 already exists; nothing trained.")
    _print_status(deps, "test")


def _print_status(deps: Any, split: str) -> None:
    from agent.queries import status_payload

    payload = status_payload(deps, split)
    if payload["incumbent"] is None:
        console.print("No model yet; train one with `failforge baseline`.")
        return
    table = Table(title=f"incumbent {payload['incumbent']['name']} on {split}")
    for column in ("slice", "images", "objects", "mAP50", "mAP50-95", "precision", "recall"):
        table.add_column(column, justify="left" if column == "slice" else "right")
    rows = [("overall", payload["metrics"]), *sorted(payload["slices"].items())]
    for name, m in rows:
        table.add_row(
            name,
            str(m["images"]),
            str(m["objects"]),
            _fmt(m["map50"]),
            _fmt(m["map50_95"]),
            _fmt(m["precision"]),
            _fmt(m["recall"]),
        )
    console.print(table)


@app.command()
@friendly
def status(
    workspace: Path = WorkspaceOption,
    split: str = typer.Option("test", help="val or test"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """The incumbent model and its metrics, overall and per slice."""
    if split not in ("val", "test"):
        raise UsageError(f"Unknown split '{split}'; use val or test.")
    deps = _deps(workspace)
    if as_json:
        from agent.queries import status_payload

        sys.stdout.write(json.dumps(status_payload(deps, split), indent=2) + "\n")
    else:
        _print_status(deps, split)


@app.command("app")
@friendly
def app_command(
    workspace: Path = WorkspaceOption,
    port: int | None = typer.Option(None, help="port of the App (default: settings)"),
    address: str = typer.Option("127.0.0.1", help="address to listen on"),
) -> None:
    """Open the workspace's field data in the FiftyOne App, with the batch review operators."""
    import os

    from agent.review import PLUGINS_DIR

    # Read by FiftyOne when it starts, and by the review plugin inside the App's server.
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(PLUGINS_DIR)
    os.environ["FAILFORGE_WORKSPACE"] = str(workspace.resolve())
    deps = _deps(workspace)
    port = port or deps.settings.fiftyone.app_port
    session = deps.datasets.launch_app(port=port, address=address)
    console.print(
        f"FiftyOne App: http://{address}:{port}  (saved views: "
        f"{', '.join(deps.datasets.saved_views()) or 'none yet'}); Ctrl-C to stop."
    )
    session.wait(-1)


def _observer() -> Callable[[str, dict[str, Any]], None]:
    def observe(node: str, update: dict[str, Any]) -> None:
        detail = ""
        if node == "discover_failures" and update.get("slices"):
            detail = "; ".join(f"{s.name} (recall {s.recall:.2f})" for s in update["slices"])
        elif node == "score_batch" and update.get("batch"):
            batch = update["batch"]
            scores = batch.scores.model_dump() if batch.scores else {}
            detail = f"{batch.kept} kept, " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items())
        elif node == "gate_candidate" and update.get("gate"):
            verdict = update["gate"]
            detail = ("PROMOTED " if verdict.promote else "kept incumbent: ") + "; ".join(
                verdict.reasons
            )
        elif node == "decide_next" and update.get("stop_reason"):
            detail = f"stop: {update['stop_reason']}"
        console.print(f"[bold]{node}[/bold] {detail}", highlight=False, soft_wrap=True)

    return observe


def _print_outcome(outcome: Any) -> None:
    state = outcome.state
    if state is not None and state.history:
        table = Table(title=f"loop {outcome.loop_id}")
        for column in (
            "cycle",
            "batch",
            "approved",
            "images",
            "candidate",
            "promoted",
            "objective",
            "mAP50 (val)",
        ):
            table.add_column(column)
        for r in state.history:
            objective = (
                "-"
                if r.objective_before is None
                else f"{r.objective_before:.3f} -> {r.objective_after:.3f}"
            )
            map50 = (
                "-" if r.map50_before is None else f"{r.map50_before:.3f} -> {r.map50_after:.3f}"
            )
            table.add_row(
                str(r.cycle),
                r.batch_id or "-",
                "yes" if r.approved else "no",
                str(r.images),
                r.candidate or "-",
                "yes" if r.promoted else "no",
                objective,
                map50,
            )
        console.print(table)
    if outcome.waiting is not None:
        w = outcome.waiting
        console.print(
            f"Waiting for a decision on batch [bold]{w['batch_id']}[/bold] "
            f"({w['images']} images; scores {w['scores']}). "
            f"Look at the FiftyOne view '{w['fiftyone_view']}', then: {w['how_to_decide']}",
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
) -> None:
    """Start a loop: find failures, generate targeted data, retrain, gate, cycle after cycle."""
    from agent.runner import start_loop

    deps = _deps(workspace)
    if deps.registry.incumbent() is None:
        raise UsageError("No model yet; train the baseline first with `failforge baseline`.")
    loop = deps.settings.loop
    outcome = start_loop(
        deps,
        cycles or loop.cycles,
        budget or loop.budget,
        auto_approve or loop.auto_approve,
        _observer(),
    )
    _print_outcome(outcome)


@app.command()
@friendly
def resume(workspace: Path = WorkspaceOption) -> None:
    """Continue the current loop where it stopped (after a crash, or to see what it waits for)."""
    from agent.runner import resume_loop

    _print_outcome(resume_loop(_deps(workspace), observe=_observer()))


@app.command()
@friendly
def batches(
    workspace: Path = WorkspaceOption,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Every batch with its cycle, status, image count and quality scores."""
    deps = _deps(workspace)
    from agent.queries import batch_rows

    rows = batch_rows(deps)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    table = Table(title="batches")
    for column in (
        "id",
        "cycle",
        "status",
        "images",
        "unrealistic",
        "unrepresentative",
        "unvaried",
        "unoriginal",
        "decided by",
    ):
        table.add_column(column)
    for row in rows:
        scores = row["scores"]
        table.add_row(
            row["id"],
            str(row["cycle"]),
            row["status"],
            str(row["images"]),
            *[
                _fmt(scores.get(k))
                for k in ("unrealistic", "unrepresentative", "unvaried", "unoriginal")
            ],
            row["decided_by"] or "-",
        )
    console.print(table)


@app.command()
@friendly
def approve(
    batch_id: str = typer.Argument(..., help="the batch to approve"),
    workspace: Path = WorkspaceOption,
    by: str = typer.Option("cli", help="who decides"),
) -> None:
    """Approve a proposed batch (samples tagged `reject` in the App are left out); the loop goes on."""
    from agent.runner import decide_batch

    outcome = decide_batch(_deps(workspace), batch_id, True, by, "approved", _observer())
    console.print(f"Batch {batch_id} approved.")
    if outcome is not None:
        _print_outcome(outcome)


@app.command()
@friendly
def reject(
    batch_id: str = typer.Argument(..., help="the batch to reject"),
    reason: str = typer.Option(..., "--reason", help="why (kept in the registry)"),
    workspace: Path = WorkspaceOption,
    by: str = typer.Option("cli", help="who decides"),
) -> None:
    """Reject a proposed batch; the cycle ends without training and the loop goes on."""
    from agent.runner import decide_batch

    outcome = decide_batch(_deps(workspace), batch_id, False, by, reason, _observer())
    console.print(f"Batch {batch_id} rejected.")
    if outcome is not None:
        _print_outcome(outcome)


@app.command()
@friendly
def report(workspace: Path = WorkspaceOption) -> None:
    """Write reports/report.md with PNG plots: per-slice recall and mAP, batch scores, promotions."""
    from agent.report import write_report
    from agent.runner import current_loop_id, loop_status

    deps = _deps(workspace)
    loop_id = current_loop_id(deps)
    state = loop_status(deps, loop_id).state if loop_id else None
    path = write_report(deps, state)
    console.print(f"Report written to {path}")


QUICK_WORLD = {"seed": 0, "image_size": 96, "splits": {"train": 160, "val": 80, "test": 120}}
QUICK_SETTINGS = {
    "detector": {"epochs": 12, "finetune_epochs": 4, "imgsz": 96},
    "loop": {"batch_size": 40, "budget": 120, "min_support": 10, "real_sample": 80},
}


@app.command()
@friendly
def demo(
    directory: Path = typer.Argument(Path("demo-workspace"), help="workspace folder"),
    quick: bool = typer.Option(False, "--quick", help="a small, fast version for smoke runs"),
    cycles: int = typer.Option(3, min=1, help="loop cycles"),
) -> None:
    """The whole story on the demo world: init, baseline, 3 auto-approved cycles, report, before/after."""
    import yaml

    from agent.report import ensure_test_metrics, slice_table, write_report
    from agent.runner import current_loop_id, resume_loop, start_loop
    from agent.settings import read_settings_file, write_settings_file
    from agent.setup import init_workspace, train_baseline

    directory = directory.resolve()
    if not (directory / "failforge.yaml").is_file():
        yaml_path = None
        if quick:
            yaml_path = directory.parent / f".{directory.name}-world.yaml"
            yaml_path.write_text(yaml.safe_dump(QUICK_WORLD))
        with progress_bars() as progress:
            init_workspace(directory, yaml_path, progress=progress)
        if yaml_path is not None:
            yaml_path.unlink()
        if quick:
            values = read_settings_file(directory)
            values.update({k: {**values.get(k, {}), **v} for k, v in QUICK_SETTINGS.items()})
            write_settings_file(directory, values)
    deps = _deps(directory)
    with progress_bars() as progress:
        train_baseline(deps, progress)
    loop_id = current_loop_id(deps)
    observe = _observer()
    if loop_id is None:
        outcome = start_loop(deps, cycles, deps.settings.loop.budget, True, observe)
    else:
        outcome = resume_loop(deps, observe=observe)
    while outcome.waiting is not None:
        # A batch whose scores miss the thresholds after every revision waits for a person;
        # in the demo the demo itself is that person, and says so in the registry.
        outcome = resume_loop(
            deps,
            {"approved": True, "by": "demo", "reason": "demo approves batches over threshold"},
            observe,
        )
    _print_outcome(outcome)
    path = write_report(deps, outcome.state)
    incumbent = deps.registry.incumbent()
    assert incumbent is not None
    before = ensure_test_metrics(deps, "v1")["test"]
    after = ensure_test_metrics(deps, incumbent.name)["test"]
    table = Table(title=f"test split (world truth): v1 -> {incumbent.name}")
    for column in (
        "slice",
        "recall v1",
        f"recall {incumbent.name}",
        "mAP50 v1",
        f"mAP50 {incumbent.name}",
    ):
        table.add_column(column, justify="left" if column == "slice" else "right")
    for row in slice_table(before, after):
        table.add_row(
            row["slice"],
            _fmt(row["recall_before"]),
            _fmt(row["recall_after"]),
            _fmt(row["map50_before"]),
            _fmt(row["map50_after"]),
        )
    console.print(table)
    console.print(f"Report: {path}")


@app.command()
@friendly
def serve(
    workspace: Path = WorkspaceOption,
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8765, help="port"),
    cron: str | None = typer.Option(None, help="also run cycles on this crontab schedule"),
    cycles: int = typer.Option(1, min=1, help="cycles per scheduled run"),
) -> None:
    """The HTTP API (and, with --cron, scheduled cycles) for this workspace."""
    import uvicorn

    from agent.api import check_bind, create_app

    deps = _deps(workspace)
    token = deps.settings.api_token
    try:
        check_bind(host, token)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if cron:
        from agent.scheduler import build_scheduler

        try:
            build_scheduler(deps.workspace.root, cron, cycles, background=True).start()
        except ValueError as error:
            raise UsageError(str(error)) from None
    console.print(f"failforge API on http://{host}:{port} (OpenAPI at /docs)")
    uvicorn.run(create_app(deps, token), host=host, port=port, log_level="warning")


@app.command()
@friendly
def schedule(
    workspace: Path = WorkspaceOption,
    cron: str = typer.Option(..., help='crontab expression, e.g. "0 2 * * *"'),
    cycles: int = typer.Option(1, min=1, help="cycles per run"),
) -> None:
    """Run cycles on a schedule; one at a time, and a restart after missed runs runs once."""
    from agent.scheduler import build_scheduler

    deps = _deps(workspace)
    try:
        scheduler = build_scheduler(deps.workspace.root, cron, cycles)
    except ValueError as error:
        raise UsageError(str(error)) from None
    console.print(f"Scheduled {cycles} cycle(s) on '{cron}'; Ctrl-C to stop.")
    scheduler.start()


@app.command()
@friendly
def doctor(
    workspace: Path = WorkspaceOption,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """For each configured backend: can it run here (package, weights, device), and why not."""
    from agent.doctor import as_json as checks_json
    from agent.doctor import diagnose
    from agent.settings import Settings
    from storage.workspace import Workspace

    Workspace(workspace).require()
    checks = diagnose(Settings.load(workspace))
    if as_json:
        sys.stdout.write(json.dumps(checks_json(checks), indent=2) + "\n")
    else:
        table = Table(title="backends")
        for column in ("tool", "backend", "ok", "reason"):
            table.add_column(column)
        for c in checks:
            table.add_row(c.tool, c.backend, "yes" if c.ok else "[red]no[/red]", c.reason)
        console.print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@app.command("export-analyses")
@friendly
def export_analyses_command(
    workspace: Path = WorkspaceOption,
    fmt: str = typer.Option("sharegpt", "--format", help="sharegpt (ms-swift, LLaMA-Factory)"),
    out: Path | None = typer.Option(None, help="JSONL file (default: reports/analyses.jsonl)"),
) -> None:
    """Write approved analyses with their evidence images as a JSONL set to LoRA-tune the analyst."""
    from agent.export import export_analyses

    if fmt != "sharegpt":
        raise UsageError(f"Unknown --format '{fmt}'; only sharegpt is supported.")
    deps = _deps(workspace)
    target = out or deps.workspace.reports_dir / "analyses.jsonl"
    count = export_analyses(deps, target)
    console.print(f"{count} analyses written to {target}")


@app.command()
@friendly
def bench(
    world: Path | None = typer.Option(
        None, "--world", help="world.yaml (default world if omitted)"
    ),
    budget: int = typer.Option(450, min=1, help="images per arm over all cycles"),
    cycles: int = typer.Option(3, min=1, help="cycles per arm"),
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds"),
    arms: str = typer.Option("none,untargeted,targeted,retrieval", help="arms to run"),
    out: Path = typer.Option(Path("bench-out"), help="output folder (resumable)"),
    as_json: bool = typer.Option(False, "--json", help="print bench.json"),
) -> None:
    """Does the closed loop beat training more, untargeted generation and retrieval at equal budget?"""
    from agent.bench import ARMS, run_bench

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds must be comma-separated integers, not '{seeds}'.") from None
    arm_list = [a.strip() for a in arms.split(",") if a.strip()]
    unknown = [a for a in arm_list if a not in ARMS]
    if unknown or not arm_list or not seed_list:
        raise UsageError(
            f"Unknown or empty --arms/--seeds ({', '.join(unknown) or 'none given'}); "
            f"arms are {', '.join(ARMS)}."
        )
    with progress_bars() as progress:
        result = run_bench(out, world, budget, cycles, seed_list, arm_list, progress)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        console.print((out / "bench.md").read_text(), markup=False, highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
