"""Service and tooling commands: serve, schedule, doctor, export-analyses and bench."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

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
from agent.entry.tables import bench_table, doctor_table


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

    from agent.entry.api import callers, check_bind, create_app

    deps = _deps(workspace)
    token, reviewers = deps.settings.api_token, deps.settings.api_reviewers
    try:
        check_bind(host, callers(token, reviewers))
    except ValueError as error:
        raise UsageError(str(error)) from None
    if cron:
        from agent.entry.scheduler import build_scheduler

        try:
            build_scheduler(deps.workspace.root, cron, cycles, background=True).start()
        except ValueError as error:
            raise UsageError(str(error)) from None
    console.print(f"failforge API on http://{host}:{port} (OpenAPI at /docs)")
    uvicorn.run(create_app(deps, token, reviewers), host=host, port=port, log_level="warning")


@app.command()
@friendly
def schedule(
    workspace: Path = WorkspaceOption,
    cron: str = typer.Option(..., help='crontab expression, e.g. "0 2 * * *"'),
    cycles: int = typer.Option(1, min=1, help="cycles per run"),
) -> None:
    """Run cycles on a schedule; one at a time, and a restart after missed runs runs once."""
    from agent.entry.scheduler import build_scheduler

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
    """Every backend and engine, configured or not: can it run here, and why not (exit 1 when a
    configured one cannot)."""
    from agent.control.doctor import as_json as checks_json
    from agent.control.doctor import diagnose
    from agent.settings import Settings
    from storage.workspace import Workspace

    Workspace(workspace).require()
    checks = diagnose(Settings.load(workspace))
    if as_json:
        sys.stdout.write(json.dumps(checks_json(checks), indent=2) + "\n")
    else:
        console.print(doctor_table(checks))
    if not all(c.ok for c in checks if c.configured):
        raise typer.Exit(1)


@app.command("export-analyses")
@friendly
def export_analyses_command(
    workspace: Path = WorkspaceOption,
    fmt: str = typer.Option("sharegpt", "--format", help="sharegpt (ms-swift, LLaMA-Factory)"),
    out: Path | None = typer.Option(None, help="JSONL file (default: reports/analyses.jsonl)"),
) -> None:
    """Write approved analyses with their evidence images as a JSONL set to LoRA-tune the analyst."""
    from agent.control.export import export_analyses

    if fmt != "sharegpt":
        raise UsageError(f"Unknown --format '{fmt}'; only sharegpt is supported.")
    deps = _deps(workspace)
    target = out or deps.workspace.reports_dir / "analyses.jsonl"
    console.print(export_analyses(deps, target).sentence(target))


# `bench --val-from`, declared here to keep `bench`'s signature short.
VAL_FROM_OPTION = typer.Option(
    "field",
    "--val-from",
    help="with --worlds: each world's labelled val drawn like the field (default) or like the "
    "deployment (a labelled sample of where the detector is deployed; the same worlds "
    "otherwise; use a new --out)",
)


@app.command()
@friendly
def bench(
    world: Path | None = typer.Option(
        None, "--world", help="world.yaml, or a preset: default, night-fog, rare-far-fog"
    ),
    # 300 images in 2 cycles: the protocol of every figure in the README, so the bare command
    # reproduces them (all arms, three seeds: 51 min on 2 cores).
    budget: int = typer.Option(300, min=1, help="images per arm over all cycles"),
    cycles: int = typer.Option(2, min=1, help="cycles per arm"),
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds"),
    arms: str | None = typer.Option(
        None,
        help="arms to run (`none` is needed for net gains, `targeted` for comparisons); "
        "default: all six, or none,targeted,uniform with --worlds",
    ),
    out: Path = typer.Option(Path("bench-out"), help="output folder (resumable)"),
    variant: list[str] = typer.Option(
        [],
        "--variant",
        help="an extra targeted arm with changed settings, NAME:section.key=value[;...] "
        "(repeatable), e.g. concentrate:loop.concentrate=true",
    ),
    as_json: bool = typer.Option(False, "--json", help="print bench.json"),
    import_path: Path | None = typer.Option(
        None,
        "--import",
        help="benchmark on your own labelled photographs (a folder or annotations file) "
        "instead of a world",
    ),
    import_format: str = typer.Option("coco", "--format", help="yolo, coco or voc (--import)"),
    worlds: int | None = typer.Option(
        None,
        "--worlds",
        min=1,
        help="run on this many worlds drawn at random (one seed each, every arm given the "
        "world's deployment sample) instead of --world and --seeds; sweep.md judges the claim "
        "across them",
    ),
    draw_seed: int = typer.Option(
        0, "--draw-seed", help="with --worlds: the seed the worlds are drawn from"
    ),
    val_from: str = VAL_FROM_OPTION,
) -> None:
    """Does the closed loop beat training longer, generic and uniform generation and retrieval at
    equal budget (and how close does it get to the oracle)?"""
    from agent.control.bench import run_bench

    seed_list, arm_list, variants = _bench_inputs(seeds, arms, variant, world, worlds, import_path)
    if worlds is not None:
        _bench_worlds(out, worlds, draw_seed, budget, cycles, arm_list, variant, as_json, val_from)
        return
    if val_from != "field":
        raise UsageError("--val-from goes with --worlds (one world: val_conditions in world.yaml).")
    imported = (import_path, import_format) if import_path else None
    with progress_bars(to_stderr=as_json) as progress:
        result = run_bench(
            out, world, budget, cycles, seed_list, arm_list, progress, variants, imported
        )
    _show_bench(result, out, as_json)


def _show_bench(result: dict[str, Any], out: Path, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        console.print(bench_table(result))
        console.print(f"Every table and the targets: {out / 'bench.md'}", highlight=False)


def _bench_inputs(
    seeds: str,
    arms: str | None,
    variant: list[str],
    world: Path | None,
    worlds: int | None,
    import_path: Path | None,
) -> tuple[list[int], list[str], dict[str, Any]]:
    """`bench`'s seeds, arms and variants, read from its options; UsageError on a bad one."""
    from agent.control.bench import ARMS

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds must be comma-separated integers, not '{seeds}'.") from None
    if worlds is not None and (world is not None or import_path is not None):
        raise UsageError("Give --worlds N (N drawn worlds) alone, without --world or --import.")
    if arms is None:
        arms = "none,targeted,uniform" if worlds is not None else ",".join(ARMS)
    arm_list = [a.strip() for a in arms.split(",") if a.strip()]
    unknown = [a for a in arm_list if a not in ARMS]
    if unknown or not arm_list or not seed_list:
        raise UsageError(
            f"Unknown or empty --arms/--seeds ({', '.join(unknown) or 'none given'}); "
            f"arms are {', '.join(ARMS)}."
        )
    if import_path is not None and world is not None:
        raise UsageError("Give --world or --import, not both.")
    if import_path is not None and "retrieval" in arm_list:
        raise UsageError(
            "The retrieval arm needs a labelled pool, which only a world renders; leave it out "
            "of --arms when benchmarking with --import."
        )
    return seed_list, arm_list, _bench_variants(variant, sweep=worlds is not None)


def _bench_variants(variant: list[str], sweep: bool = False) -> dict[str, Any]:
    """Each --variant's name and settings, checked against Settings; UsageError on a bad one.

    With `sweep` (`--worlds`) each is checked as its arms will run: a sweep gives every arm the
    world's deployment sample (`loop.deploy_images`), which settings may need."""
    from agent.control.bench import parse_variant
    from agent.control.world_sweep import DEPLOY_SAMPLE
    from agent.settings import Settings, problem_text

    variants: dict[str, Any] = {}
    for text in variant:
        try:
            name, values = parse_variant(text)
        except ValueError as error:
            raise UsageError(str(error)) from None
        checked = values
        if sweep:
            loop = {"deploy_images": DEPLOY_SAMPLE, **values.get("loop", {})}
            checked = {**values, "loop": loop}
        try:
            Settings(workspace=Path("."), **checked)
        except ValidationError as error:
            raise UsageError(f"Variant '{name}': {problem_text(error)}.") from None
        variants[name] = values
    return variants


def _bench_worlds(
    out: Path,
    worlds: int,
    draw_seed: int,
    budget: int,
    cycles: int,
    arms: list[str],
    variants: list[str],
    as_json: bool,
    val_from: str,
) -> None:
    """`bench --worlds N`: the benchmark on N drawn worlds, then sweep.md (or sweep.json)."""
    from agent.control.world_sweep import SweepError, run_world_sweep
    from tools.world.draw import WorldDistribution

    if val_from not in ("field", "deployment"):
        raise UsageError(f"--val-from is field or deployment, not '{val_from}'.")
    distribution = WorldDistribution.model_validate({"val_from": val_from})
    try:
        sweep = run_world_sweep(
            out, worlds, draw_seed, budget, cycles, arms, variants, errors.print, distribution
        )
    except SweepError as error:
        raise UsageError(str(error)) from None
    if as_json:
        sys.stdout.write(json.dumps(sweep, indent=2) + "\n")
    else:
        console.print((out / "sweep.md").read_text(), markup=False, highlight=False)
