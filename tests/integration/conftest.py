"""The tiny trained baseline every integration test that runs a loop starts from (trained once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.entry.cli import app
from tests.faults.harness import TINY_WORLD

runner = CliRunner()


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("baseline")
    world = root / "world.yaml"
    world.write_text(TINY_WORLD)
    ws = root / "ws"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAILFORGE_DETECTOR__BATCH", "4")
        result = runner.invoke(app, ["init", str(ws), "--world", str(world)])
        assert result.exit_code == 0, result.output
        # 60 epochs leave a model that has learnt something (val mAP50 about 0.45 on 57
        # objects), so the cross-check against ultralytics' validation means something.
        result = runner.invoke(app, ["baseline", "-w", str(ws), "--epochs", "60"])
        assert result.exit_code == 0, result.output
        yield ws
