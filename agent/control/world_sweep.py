"""`failforge bench --worlds N`: the benchmark over worlds drawn at random, one seed each, every
arm given the world's deployment sample; the claim judged across worlds.

Each world is today's benchmark (`run_bench`) in its own sub-folder, run by a `failforge bench`
child process: one process talks to one FiftyOne database, and each world's benchmark keeps its
own. A killed sweep resumes where it was: finished worlds are read back, an unfinished one's
benchmark resumes its own arms. Where targeted lost to uniform on a world, the summary says which
part lost it, from facts its arms' workspaces recorded (sweep_facts, evaluation/sweep_diagnosis).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from agent.control.sweep_facts import world_facts
from evaluation.sweep_diagnosis import Diagnosis, WorldFacts, diagnose
from evaluation.sweep_diagnosis import markdown as diagnosis_markdown
from evaluation.world_sweep import markdown, summarise_sweep
from tools.files import write_text_whole
from tools.world.config import WorldConfig
from tools.world.draw import DrawnWorld, WorldDistribution, draw_worlds

SWEEP_ARMS = ("none", "targeted", "uniform")
# Every arm's `loop.deploy_images`, relative to its workspace (out/<world>/seed<s>/<arm>): the
# unlabelled deployment sample bench.py renders per seed beside the arms.
DEPLOY_SAMPLE = "../deploy"


class SweepError(RuntimeError):
    """A sweep that cannot go on; the message is one sentence for the user."""


def run_world_sweep(
    out: Path,
    count: int,
    draw_seed: int,
    budget: int,
    cycles: int,
    arms: Sequence[str] = SWEEP_ARMS,
    variants: Sequence[str] = (),
    say: Callable[[str], None] = print,
    distribution: WorldDistribution | None = None,
) -> dict[str, Any]:
    """Run the benchmark on `count` worlds of draw seed `draw_seed` and judge the claim across
    them; writes sweep.json and sweep.md in `out` and returns sweep.json's content.

    `variants` are `--variant` texts passed to every world's benchmark as they are;
    `distribution` is where worlds are drawn from (default: `WorldDistribution()`).
    """
    out = out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    distribution = distribution or WorldDistribution()
    worlds = draw_worlds(count, draw_seed, distribution)
    # What sweep.json says of the sweep itself, before the worlds' figures.
    setup = {
        "draw_seed": draw_seed,
        "distribution": distribution.model_dump(mode="json"),
        "budget": budget,
        "cycles": cycles,
        "arms": list(arms),
        "variants": list(variants),
        "deploy_images": DEPLOY_SAMPLE,
        "worlds": [
            {"name": w.name, "seed": w.config.seed, "rare_in_field": list(w.rare)} for w in worlds
        ],
    }
    results: dict[str, dict[str, Any]] = {}
    for number, world in enumerate(worlds, start=1):
        folder = out / world.name
        yaml_path = _world_file(folder, world, draw_seed)
        result = _finished(folder, world, arms, variants)
        if result is None:
            say(
                f"{world.name} ({number} of {count}, seed {world.config.seed}, rare in the field: "
                f"{', '.join(world.rare)}): arms {', '.join(arms)}"
            )
            _run_world(folder, yaml_path, world.config.seed, budget, cycles, arms, variants)
            result = _finished(folder, world, arms, variants)
            if result is None:
                raise SweepError(
                    f"The benchmark of {world.name} ended without all of its arms in "
                    f"{folder / 'bench.json'}; run the sweep again to resume it."
                )
        results[world.name] = result
        # Written after every world, so a sweep stopped half-way still says what it measured.
        sweep = _write_sweep(out, setup, worlds, results)
    return sweep


def _write_sweep(
    out: Path,
    setup: dict[str, Any],
    worlds: Sequence[DrawnWorld],
    results: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """sweep.json and sweep.md over the worlds finished so far (`results`); sweep.json's content."""
    summary = summarise_sweep(results, {w.name: w.rare for w in worlds if w.name in results})
    diagnosis, diagnosis_section = _diagnoses(out, results, setup["arms"])
    sweep = {**setup, "finished": len(results), "summary": summary, "diagnosis": diagnosis}
    write_text_whole(out / "sweep.json", json.dumps(sweep, indent=2))
    header = (
        f"failforge bench over {len(worlds)} drawn worlds (draw seed {setup['draw_seed']}): "
        f"budget {setup['budget']}, {setup['cycles']} cycles, one seed per world"
    )
    if len(results) < len(worlds):
        header += f"; {len(results)} of {len(worlds)} finished so far, judged on those"
    write_text_whole(out / "sweep.md", markdown(summary, header) + "\n" + diagnosis_section)
    return sweep


def _diagnoses(
    out: Path, results: dict[str, dict[str, Any]], arms: Sequence[str]
) -> tuple[dict[str, Any], str]:
    """Per world, its facts read from its arms' workspaces and where targeting lost on it
    (sweep.json's `diagnosis`), and sweep.md's section; worlds without both targeted and uniform
    finished and measured are left out."""
    facts: dict[str, WorldFacts] = {}
    diagnoses: dict[str, Diagnosis] = {}
    for name, result in results.items():
        found = world_facts(out / name, result, [a for a in arms if a != "none"])
        verdict = diagnose(found) if found is not None else None
        if found is not None and verdict is not None:
            facts[name], diagnoses[name] = found, verdict
    stored = {
        name: {"facts": facts[name].model_dump(mode="json"), **verdict.model_dump(mode="json")}
        for name, verdict in diagnoses.items()
    }
    return stored, diagnosis_markdown(diagnoses, facts)


def _world_file(folder: Path, world: DrawnWorld, draw_seed: int) -> Path:
    """The world's world.yaml in its folder; a folder drawn with another seed is not reused."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "world.yaml"
    drawn = world.config.model_dump(mode="json")
    if path.is_file():
        # Compared as settings, not text: a field added since with its default is the same world.
        if WorldConfig.model_validate(yaml.safe_load(path.read_text())) != world.config:
            raise SweepError(
                f"{path} holds another world than draw seed {draw_seed} draws for {world.name}; "
                "use a new --out folder for another draw seed."
            )
        return path
    path.write_text(yaml.safe_dump(drawn, sort_keys=False))
    return path


def _finished(
    folder: Path, world: DrawnWorld, arms: Sequence[str], variants: Sequence[str]
) -> dict[str, Any] | None:
    """The world's bench.json when every arm (and variant) of this sweep is in it."""
    path = folder / "bench.json"
    if not path.is_file():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    wanted = {*arms, *(text.partition(":")[0].strip() for text in variants)}
    if result.get("seeds") != [world.config.seed] or not wanted <= set(result.get("arms", {})):
        return None
    return result


def _run_world(
    folder: Path,
    yaml_path: Path,
    seed: int,
    budget: int,
    cycles: int,
    arms: Sequence[str],
    variants: Sequence[str],
) -> None:
    """One world's benchmark in a child process, its progress on this terminal's stderr."""
    command = [
        sys.executable,
        "-m",
        "agent",
        "bench",
        "--world",
        str(yaml_path),
        "--seeds",
        str(seed),
        "--budget",
        str(budget),
        "--cycles",
        str(cycles),
        "--arms",
        ",".join(arms),
        "--out",
        str(folder),
        "--json",
        *(part for text in variants for part in ("--variant", text)),
    ]
    # Settings read FAILFORGE_* variables over each workspace's failforge.yaml: every arm of the
    # child's benchmark, whatever its strategy, gets the deployment sample.
    environment = {**os.environ, "FAILFORGE_LOOP__DEPLOY_IMAGES": DEPLOY_SAMPLE}
    with (folder / "bench.stdout.json").open("w") as stdout:
        finished = subprocess.run(command, env=environment, stdout=stdout, check=False)
    if finished.returncode != 0:
        raise SweepError(
            f"The benchmark of {folder.name} stopped (exit {finished.returncode}); its output is "
            f"above, and running the sweep again resumes it."
        )
