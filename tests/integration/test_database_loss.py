"""FiftyOne's mongod killed while a real loop runs: one sentence, a resumable loop, nothing lost.

The workspace has a database of its own, and everything that talks to it runs in child
processes, so killing its mongod leaves this test session's database alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.faults.harness import LOOP_SETTINGS, REPO, TINY_WORLD

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(1200)]


def _mongods(database_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = process.info["cmdline"] or []
        if not command or not Path(command[0]).name.startswith("mongod"):
            continue
        path = command[command.index("--dbpath") + 1] if "--dbpath" in command[:-1] else None
        if path is not None and Path(path).resolve() == database_dir.resolve():
            found.append(process)
    return found


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a child whose FiftyOne uses a database of the test's own."""
    database_dir = tmp_path / "db"
    env = {
        **os.environ,
        "FAILFORGE_FIFTYONE__DATABASE_DIR": str(database_dir),
        "FAILFORGE_DETECTOR__BATCH": "4",
    }
    env.pop("FIFTYONE_PRIVATE_DATABASE_PORT", None)  # this session's database, not ours
    yield env
    for process in _mongods(database_dir):  # what the last child left running
        process.kill()


def _failforge(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_killed_database_stops_the_loop_with_one_sentence_and_resume_finishes_it(
    tmp_path: Path, own_database: dict[str, str]
) -> None:
    from agent.control.workspaces import _merged
    from agent.settings import Settings, read_settings_file, write_settings_file
    from storage.registry import Registry

    env = own_database
    world = tmp_path / "world.yaml"
    world.write_text(TINY_WORLD)
    workspace = tmp_path / "ws"
    for args in (
        ("init", str(workspace), "--world", str(world)),
        ("baseline", "-w", str(workspace), "--epochs", "10"),  # weak: failures to aim at
    ):
        done = _failforge(env, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    # The fault matrix's small loop: a batch of 16, two fine-tuning epochs.
    write_settings_file(workspace, _merged(read_settings_file(workspace), LOOP_SETTINGS))
    run = ["run", "--auto-approve", "--cycles", "1", "--budget", "16", "-w", str(workspace)]
    loop = subprocess.Popen(
        [sys.executable, "-m", "agent", *run],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Once the batch is decided, retraining reads the approved images from FiftyOne.
    registry = Registry.at(Settings.load(workspace).state_location())
    deadline = time.monotonic() + 600
    while not any(e.kind == "batch_decided" for e in registry.events()):
        assert loop.poll() is None, loop.communicate()
        assert time.monotonic() < deadline, "the loop never decided its batch"
        time.sleep(0.2)
    killed = _mongods(Path(env["FAILFORGE_FIFTYONE__DATABASE_DIR"]))
    assert killed, "no mongod serves the workspace's database"
    for process in killed:
        os.kill(process.pid, signal.SIGKILL)
    _, stderr = loop.communicate(timeout=600)

    assert loop.returncode == 1, stderr
    assert "Traceback" not in stderr, stderr[-3000:]
    sentence = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(sentence) == 1 and "FiftyOne's database at" in sentence[0], stderr[-3000:]
    assert "failforge resume" in sentence[0]

    resumed = _failforge(env, "resume", "-w", str(workspace))  # starts the database again
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    # Checked in a fresh process too: this one never connected to the workspace's database.
    script = (
        "import json, sys, pathlib; from tests.faults.harness import inconsistencies; "
        "print(json.dumps(inconsistencies(pathlib.Path(sys.argv[1]), 1)))"
    )
    check = subprocess.run(
        [sys.executable, "-c", script, str(workspace)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert json.loads(check.stdout.strip().splitlines()[-1]) == []
