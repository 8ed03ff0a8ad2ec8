"""Where a benchmark's field data comes from: the demo world it renders, or a user's photographs.

The benchmark's protocol is the same for both (a baseline per seed, the two worst `test` slices
fixed before any arm runs, every arm from a clone of its seed's baseline). What differs is what
a slice is: the world's true conditions (rendered tags), or, for photographs, bins of attributes
measured from labels and pixels on `test` (no truth about the scene exists), with the edges
fixed at pre-registration so that every model is measured on the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from agent.control.report import ensure_test_metrics
from agent.control.workspaces import init_workspace
from agent.ports import Deps
from agent.steps.failures import val_object_table
from evaluation.slices import assign_bins, bin_edges, slice_mask
from tools.generator.retrieval import build_pool
from tools.world.config import WorldConfig
from tools.world.field import render_field

DEPLOY_IMAGES = 200
# A measured slice must hold this many test objects on every seed to be pre-registered.
MIN_TEST_OBJECTS = 20


class BenchField(Protocol):
    """The benchmark's source of field data and of the slices it scores."""

    def describe(self) -> dict[str, Any]: ...

    def init_base(self, base: Path, out: Path, seed: int, shared: dict[str, Any]) -> None: ...

    def test_metrics(self, deps: Deps, model: str) -> dict[str, Any]: ...

    def preregister(self, bases: dict[int, Deps], count: int) -> list[str]: ...

    def prepare_seed(self, out: Path, seed: int, budget: int) -> Path | None: ...


@dataclass
class WorldField:
    """The demo world (or a preset): slices are its true conditions, read from render tags."""

    world: WorldConfig

    def describe(self) -> dict[str, Any]:
        return {"world": self.world.model_dump(mode="json")}

    def init_base(self, base: Path, out: Path, seed: int, shared: dict[str, Any]) -> None:
        yaml_path = out / f"world-seed{seed}.yaml"
        yaml_path.write_text(
            yaml.safe_dump(self.world.model_copy(update={"seed": seed}).model_dump(mode="json"))
        )
        init_workspace(base, yaml_path, settings_values=shared)

    def test_metrics(self, deps: Deps, model: str) -> dict[str, Any]:
        return dict(ensure_test_metrics(deps, model)["test"])

    def preregister(self, bases: dict[int, Deps], count: int) -> list[str]:
        from evaluation.bench import worst_slices

        return worst_slices({s: self.test_metrics(d, "v1") for s, d in bases.items()}, count)

    def prepare_seed(self, out: Path, seed: int, budget: int) -> Path | None:
        """The retrieval arm's labelled pool and the deployment sample, rendered once."""
        world = self.world.model_copy(update={"seed": seed})
        pool = out / f"seed{seed}" / "pool"
        if not (pool / "pool.json").is_file():
            build_pool(world, pool, count=3 * budget)
        deploy = out / f"seed{seed}" / "deploy"
        if not (deploy / "done").is_file():
            # Unlabelled new draws from the test split's conditions, never the test images.
            for _ in render_field(world, deploy, "deploy", count=DEPLOY_IMAGES):
                pass
            (deploy / "done").write_text(str(DEPLOY_IMAGES))
        return pool


@dataclass
class ImportedField:
    """A user's labelled photographs: every seed imports the same split; slices are measured."""

    path: Path
    format: str
    # name -> {"conditions": ..., "edges": ...}, fixed by `preregister` (or read back).
    slices: dict[str, dict[str, Any]] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "import": {"path": str(self.path), "format": self.format},
            "measured_slices": self.slices,
        }

    def init_base(self, base: Path, out: Path, seed: int, shared: dict[str, Any]) -> None:
        init_workspace(
            base,
            import_path=self.path,
            import_format=self.format,
            settings_values={**shared, "detector": {"seed": seed}},
        )

    def test_metrics(self, deps: Deps, model: str) -> dict[str, Any]:
        """Test metrics with the pre-registered measured slices' recall and object counts."""
        metrics = dict(ensure_test_metrics(deps, model)["test"])
        if self.slices:
            metrics["slices"] = {
                **metrics.get("slices", {}),
                **measured_recalls(deps, model, self.slices),
            }
        return metrics

    def preregister(self, bases: dict[int, Deps], count: int) -> list[str]:
        """The `count` single-attribute (or class) bins with the lowest mean baseline recall on
        `test` over seeds, each with at least MIN_TEST_OBJECTS objects on every seed."""
        tables = {seed: val_object_table(deps, "v1", "test") for seed, deps in bases.items()}
        # Attributes are measured from pixels and boxes, so every seed's edges are the same.
        edges = bin_edges(next(iter(tables.values())))
        recalls: dict[str, list[float]] = {}
        definitions: dict[str, dict[str, str]] = {}
        for table in tables.values():
            bins = assign_bins(table, edges)
            for attribute, values in bins.items():
                for value in np.unique(values):
                    name = f"{attribute}={value}"
                    mask = slice_mask(bins, {attribute: str(value)})
                    if mask.sum() >= MIN_TEST_OBJECTS:
                        recalls.setdefault(name, []).append(float(table.found[mask].mean()))
                        definitions[name] = {attribute: str(value)}
        eligible = [n for n, r in recalls.items() if len(r) == len(tables)]
        worst = sorted(eligible, key=lambda n: (float(np.mean(recalls[n])), n))[:count]
        self.slices = {n: {"conditions": definitions[n], "edges": edges} for n in worst}
        return worst

    def prepare_seed(self, out: Path, seed: int, budget: int) -> Path | None:
        return None  # no pool of real images beyond the user's own; no deployment sample


def measured_recalls(
    deps: Deps, model: str, slices: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Recall on `test` of each measured slice (its own fixed edges), with its object count."""
    table = val_object_table(deps, model, "test")
    out: dict[str, dict[str, Any]] = {}
    for name, definition in slices.items():
        mask = slice_mask(assign_bins(table, definition["edges"]), definition["conditions"])
        objects = int(mask.sum())
        out[name] = {
            "recall": float(table.found[mask].mean()) if objects else None,
            "objects": objects,
        }
    return out
