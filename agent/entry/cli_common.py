"""What every `failforge` command shares: the app, consoles, workspace option, errors, progress."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    from agent.control.runner import BatchDecisionError, LoopBusyError, NoLoopError
    from storage.database import DatabaseConflictError
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
        from storage.database import database_errors, database_location
        from storage.state import StateLockedError
        from tools.detector.base import WeightsError

        try:
            return command(*args, **kwargs)
        except _user_errors() as error:
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except WeightsError as error:  # not the user's mistake: exit 1, still one sentence
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except StateLockedError:
            errors.print(
                "[red]error:[/red] The workspace's state (registry or checkpoints) stayed locked "
                "by another process for longer than state.busy_timeout; find that process "
                "(a long query, a copy tool, a second host on a network drive), then run "
                "`failforge resume`: the loop continues from its last finished step.",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        except database_errors() as error:
            # The loop is checkpointed after every step: it stopped where it was.
            errors.print(
                f"[red]error:[/red] FiftyOne's database at {database_location()} stopped "
                f"answering ({type(error).__name__}); start it again (or check "
                "fiftyone.database_uri), then run `failforge resume`: the loop continues from "
                "its last finished step.",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bars(to_stderr: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """A callback (task, done, total) that drives one rich progress bar per task name.

    `to_stderr` keeps standard output for a command's JSON alone (`--json`).
    """
    with Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors if to_stderr else console,
        transient=False,
    ) as bars:
        tasks: dict[str, Any] = {}

        def update(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bars.add_task(task, total=total)
            bars.update(tasks[task], completed=done, total=total)

        yield update


def _deps(workspace: Path) -> Any:
    from agent.bootstrap import build_deps
    from agent.settings import Settings
    from storage.workspace import Workspace

    Workspace(workspace).require()
    return build_deps(Settings.load(workspace))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def import_source(
    path: Path | None,
    fmt: str,
    dataset: str | None,
    label_field: str | None,
    classes: str | None,
    world: Path | None,
) -> Any:
    """`init`'s import options as an ImportSource (None: the demo world); UsageError when they
    do not fit together."""
    from agent.control.workspaces import ImportSource
    from storage.importers import FORMATS

    if fmt not in FORMATS:
        raise UsageError(f"Unknown --format '{fmt}'; use {', '.join(FORMATS)}.")
    if sum(x is not None for x in (world, path, dataset)) > 1:
        raise UsageError("Pass one of --world, --import and --fiftyone.")
    if label_field is not None and dataset is None:
        raise UsageError("--label-field names a field of the --fiftyone dataset; pass both.")
    names = None if classes is None else [c.strip() for c in classes.split(",") if c.strip()]
    if names is not None and (not names or len(set(names)) != len(names)):
        raise UsageError(f"--classes '{classes}' must name each class once, comma-separated.")
    if names is not None and path is None and dataset is None:
        raise UsageError("--classes names the classes of an import (--import or --fiftyone).")
    if path is None and dataset is None:
        return None
    return ImportSource(path, fmt, dataset, label_field, names)
