"""A fine-tune's epochs follow a fixed budget of image passes; its synthetic images stay under the cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.steps.training import finetune_epochs, synthetic_mix
from tests.fakes import fake_deps


@pytest.mark.parametrize(
    ("images", "epochs"),
    [(750, 8), (900, 7), (1050, 6), (6000, 1), (60000, 1), (100, 12)],
)
def test_epochs_spend_the_image_budget_within_the_epoch_cap(
    tmp_path: Path, images: int, epochs: int
) -> None:
    deps = fake_deps(tmp_path, detector={"finetune_epochs": 12, "finetune_images": 6000})
    assert finetune_epochs(deps, images) == epochs


def test_without_a_budget_every_fine_tune_runs_the_configured_epochs(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path, detector={"finetune_epochs": 5, "finetune_images": None})
    assert [finetune_epochs(deps, n) for n in (10, 750, 5000)] == [5, 5, 5]


# -- the approved images a fine-tune sees ------------------------------------------------------
def _batches(*sizes: int) -> tuple[list[str], list[str]]:
    """Images named `b<batch>-<index>`, oldest batch first, with their batch ids."""
    items = [f"b{b}-{i}" for b, size in enumerate(sizes) for i in range(size)]
    return items, [item.split("-")[0] for item in items]


def test_one_copy_of_every_batch_is_the_old_mix_newest_kept_first_under_the_cap() -> None:
    items, ids = _batches(4, 3)
    assert synthetic_mix(items, ids, "b1", 1, 100) == items
    # The cap drops the oldest images first, as before repeats existed.
    assert synthetic_mix(items, ids, "b1", 1, 5) == items[-5:]
    assert synthetic_mix(items, ids, "b1", 1, 2) == ["b1-1", "b1-2"]


def test_the_newest_batch_is_repeated_in_the_room_the_cap_leaves() -> None:
    items, ids = _batches(4, 3)
    assert synthetic_mix(items, ids, "b1", 2, 100) == [*items, "b1-0", "b1-1", "b1-2"]
    assert synthetic_mix(items, ids, "b1", 3, 100).count("b1-2") == 3
    # Room for two more than one copy: a partial second copy, never past the cap.
    mixed = synthetic_mix(items, ids, "b1", 3, 9)
    assert len(mixed) == 9 and mixed[-2:] == ["b1-0", "b1-1"]
    # Older batches keep their place before extra copies of the newest take any room.
    assert synthetic_mix(items, ids, "b1", 2, 7) == items


def test_without_a_newest_batch_in_the_mix_nothing_is_repeated() -> None:
    items, ids = _batches(4, 3)
    assert synthetic_mix(items, ids, None, 3, 100) == items
    assert synthetic_mix([], [], "b1", 3, 10) == []
