"""A user's mistake gets one sentence and exit code 2, never a traceback; nothing stored is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.entry.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["baseline", "status"])
def test_missing_workspace(tmp_path: Path, command: str) -> None:
    code, output = _run(command, "--workspace", str(tmp_path / "nowhere"))
    assert code == 2
    assert "does not exist" in output and "Traceback" not in output


def test_folder_that_is_not_a_workspace(tmp_path: Path) -> None:
    code, output = _run("status", "--workspace", str(tmp_path))
    assert code == 2 and "is not a failforge workspace" in output


@pytest.mark.parametrize(
    ("world", "message"),
    [
        ("conditions: {weather: {clear: 0.9, hail: 0.1}}", "unknown value 'hail'"),
        ("conditions: {lighting: {day: 0.6, night: 0.6}}", "not 1"),
    ],
)
def test_bad_yaml_path_creates_nothing(tmp_path: Path, world: str, message: str) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(world)
    code, output = _run("init", str(tmp_path / "ws"), "--world", str(path))
    assert code == 2 and message in output and "Traceback" not in output
    assert not (tmp_path / "ws").exists()


def test_unknown_import_format_and_empty_import(tmp_path: Path) -> None:
    code, output = _run(
        "init", str(tmp_path / "ws"), "--import", str(tmp_path), "--format", "pascal"
    )
    assert code == 2 and "Unknown --format 'pascal'" in output
    code, output = _run("init", str(tmp_path / "ws"), "--import", str(tmp_path))
    assert code == 2 and "No usable labelled image" in output


def test_init_refuses_an_existing_workspace(tmp_path: Path) -> None:
    (tmp_path / "failforge.yaml").write_text("workspace_id: keep\n")
    code, output = _run("init", str(tmp_path))
    assert code == 2 and "already a failforge workspace" in output
    assert (tmp_path / "failforge.yaml").read_text() == "workspace_id: keep\n"


def test_a_database_that_stops_answering_is_one_sentence_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import typer
    from pymongo.errors import ServerSelectionTimeoutError

    from agent.entry.cli_common import friendly

    @friendly
    def step() -> None:
        raise ServerSelectionTimeoutError("localhost:27017: [Errno 111] Connection refused")

    with pytest.raises(typer.Exit) as raised:
        step()
    assert raised.value.exit_code == 1
    said = capsys.readouterr().err
    assert "database" in said and "failforge resume" in said and "Traceback" not in said


LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(60)
"""


def test_a_registry_locked_longer_than_the_busy_timeout_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from agent.control.runner import LoopDriver
    from tests.fakes import fake_deps

    deps = fake_deps(tmp_path)
    LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False)  # waits for a decision
    batch = deps.registry.batches()
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(deps.workspace.registry_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        monkeypatch.setenv("FAILFORGE_STATE__BUSY_TIMEOUT", "0.5")
        code, output = _run("approve", batch[0].id, "-w", str(tmp_path))
    finally:
        locker.kill()
        locker.wait()
    assert code == 1 and "stayed locked" in output and "Traceback" not in output
    assert batch and deps.registry.batch(batch[0].id).status == "proposed"  # nothing lost
