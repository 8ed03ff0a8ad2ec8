"""The `failforge` command: set up a workspace, train, run loops, decide batches, inspect results."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from agent.entry.cli_common import (
    UsageError,
    WorkspaceOption,
    _deps,
    app,
    console,
    errors,
    friendly,
    import_source,
    progress_bars,
)
from agent.entry.tables import checks_table, split_table, status_table, summary_json


@app.command()
@friendly
def init(
    directory: Path = typer.Argument(..., help="folder to create the workspace in"),
    world: Path | None = typer.Option(
        None, "--world", help="world.yaml (default world if omitted)"
    ),
    import_path: Path | None = typer.Option(None, "--import", help="your labelled images instead"),
    import_format: str = typer.Option("yolo", "--format", help="yolo, coco or voc"),
    dataset: str | None = typer.Option(None, "--fiftyone", help="or a dataset of your FiftyOne"),
    label_field: str | None = typer.Option(None, help="its Detections field (if several)"),
    classes: str | None = typer.Option(None, help="class names in order, comma-separated"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Create a workspace with field data from the demo world or from your own labelled images."""
    from agent.control.workspaces import init_workspace

    source = import_source(import_path, import_format, dataset, label_field, classes, world)
    with progress_bars(to_stderr=as_json) as progress:
        summary = init_workspace(directory, world, progress=progress, source=source)
    for path, reason in summary.skipped:
        errors.print(f"[yellow]skipped[/yellow] {path}: {reason}", highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(summary_json(summary), indent=2) + "\n")
        return
    console.print(split_table(f"workspace {directory}", summary.counts, len(summary.skipped)))
    for note in summary.notes:
        console.print(note, highlight=False, soft_wrap=True)
    console.print(f"Field data from {summary.source}. Next: failforge baseline -w {directory}")


@app.command()
@friendly
def baseline(
    workspace: Path = WorkspaceOption,
    epochs: int | None = typer.Option(None, help="training epochs (default: settings)"),
    as_json: bool = typer.Option(False, "--json", help="print the status JSON"),
) -> None:
    """Train model v1 on `train` and evaluate it on `val` and `test`, overall and per slice."""
    from agent.control.workspaces import train_baseline

    deps = _deps(workspace)
    with progress_bars(to_stderr=as_json) as progress:
        outcome = train_baseline(deps, progress, epochs)
    if outcome["skipped"]:
        (errors if as_json else console).print("Baseline v1 already exists; nothing trained.")
    if as_json:
        from agent.control.queries import status_payload

        sys.stdout.write(json.dumps(status_payload(deps, "test"), indent=2) + "\n")
        return
    _print_status(deps, "test")


def _print_status(deps: Any, split: str) -> None:
    from agent.control.queries import status_payload

    payload = status_payload(deps, split)
    if payload["incumbent"] is None:
        console.print("No model yet; train one with `failforge baseline`.")
        return
    console.print(status_table(payload))
    if payload["hypothesis_checks"]:
        console.print(checks_table(payload["hypothesis_checks"]))
        _print_strips(payload["hypothesis_checks"], deps.workspace.root)


def _print_strips(checks: list[dict[str, Any]], workspace: Path) -> None:
    """Each check's before/after strip as its file, whole on its line (to open or copy)."""
    from agent.entry.review import STRIPS_LEGEND, strip_files

    strips = strip_files(checks, workspace.resolve())
    if strips:
        console.print(f"{STRIPS_LEGEND}:", markup=False)
    for label, path in strips:
        console.print(f"  {label}: {path}", markup=False, highlight=False, soft_wrap=True)


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
        from agent.control.queries import status_payload

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

    from agent.entry.api.guard import callers, check_bind
    from agent.entry.review import PLUGINS_DIR, REVIEW_PANEL
    from agent.settings import Settings

    settings = Settings.load(workspace)
    try:  # the App's decisions need a token whenever it listens beyond this machine
        check_bind(address, callers(settings.api_token, settings.api_reviewers))
    except ValueError as error:
        raise UsageError(str(error)) from None
    # Read by FiftyOne when it starts, and by the review plugin inside the App's server.
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(PLUGINS_DIR)
    os.environ["FAILFORGE_WORKSPACE"] = str(workspace.resolve())
    deps = _deps(workspace)
    port = port or deps.settings.fiftyone.app_port
    session = deps.datasets.launch_app(port=port, address=address, panel=REVIEW_PANEL)
    console.print(
        f"FiftyOne App: http://{address}:{port}  (saved views: "
        f"{', '.join(deps.datasets.saved_views()) or 'none yet'}); Ctrl-C to stop."
    )
    session.wait(-1)


# The other commands register themselves on `app` when their modules load.
from agent.entry import cli_loop, cli_service  # noqa: E402, F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
