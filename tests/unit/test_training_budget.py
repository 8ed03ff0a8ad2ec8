"""A fine-tune's epochs follow a fixed budget of image passes, so later cycles train no longer."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.steps.training import finetune_epochs
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
