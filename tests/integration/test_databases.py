"""Each FiftyOne database directory gets its own mongod, even beside another workspace's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
REPORT = """
import os, sys, time
from pathlib import Path
from storage.database import connect
connect(Path(sys.argv[1]))
import fiftyone.core.odm.database as db
options = db.get_db_conn().client.admin.command("getCmdLineOpts")
print(options["parsed"]["storage"]["dbPath"], os.environ["FIFTYONE_PRIVATE_DATABASE_PORT"])
sys.stdout.flush()
time.sleep(float(sys.argv[2]))
"""


def _database_of(folder: Path, linger: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", REPORT, str(folder), str(linger)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_second_workspace_gets_its_own_database_not_the_running_one(tmp_path: Path) -> None:
    first = _database_of(tmp_path / "a", linger=60)
    try:
        assert first.stdout is not None
        first_path, first_port = first.stdout.readline().split()
        # FiftyOne alone would join the running service (and its directory) here.
        second = _database_of(tmp_path / "b")
        second_path, second_port = second.communicate(timeout=120)[0].split()
        same = _database_of(tmp_path / "a")
        same_path, same_port = same.communicate(timeout=120)[0].split()
    finally:
        first.kill()
    assert Path(first_path) == tmp_path / "a" and Path(second_path) == tmp_path / "b"
    assert second_port != first_port
    assert (same_path, same_port) == (first_path, first_port)  # one mongod per directory


def test_a_mongod_that_plain_fiftyone_started_on_the_directory_is_joined(tmp_path: Path) -> None:
    from fiftyone.core.service import DatabaseService

    folder = tmp_path / "c"
    (folder / "log").mkdir(parents=True)
    log = str(folder / "log" / "mongo.log")
    mongod = DatabaseService.find_mongod()
    foreign = subprocess.Popen(
        [mongod, "--dbpath", str(folder), "--port", "0", "--nounixsocket", "--logpath", log]
    )
    try:
        joined = _database_of(folder)
        path, _ = joined.communicate(timeout=120)[0].split()
        assert joined.returncode == 0 and Path(path) == folder  # not a second mongod (it fails)
    finally:
        foreign.terminate()
        foreign.wait(timeout=60)


def test_every_fiftyone_write_is_journaled_before_it_is_acknowledged() -> None:
    # Unjournaled, an acknowledged write dies with a killed mongod while the registry already
    # says its step is done (tests/integration/test_database_loss.py, `make faults`).
    import mongoengine

    from agent.settings import Settings
    from storage.database import connect

    connect(Settings().database_dir())  # this test session's database
    import fiftyone.core.odm.database as fodb

    assert fodb.get_db_conn().client.write_concern.document == {"j": True}
    assert mongoengine.get_db().client.write_concern.document == {"j": True}


CONFIG_AFTER_AN_EARLY_IMPORT = """
import sys
from pathlib import Path
import fiftyone.operators  # as the review plugin does, before any workspace is connected
from storage.database import connect
connect(Path(sys.argv[1]), "mongodb://127.0.0.1:9")  # a URI: no mongod started, none needed
import fiftyone as fo
print(fo.config.do_not_track, fo.config.show_progress_bars, fo.config.database_validation)
"""


@pytest.mark.parametrize(("chosen", "tracked"), [(None, "True"), ("false", "False")])
def test_fiftyone_imported_before_connecting_still_gets_the_workspace_settings(
    tmp_path: Path, chosen: str | None, tracked: str
) -> None:
    # The App's server takes do_not_track from this process's config: left at FiftyOne's
    # default, the App lays its analytics banner over the review panel's buttons.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIFTYONE_")}
    if chosen is not None:
        env["FIFTYONE_DO_NOT_TRACK"] = chosen  # a user's own choice is kept
    out = subprocess.run(
        [sys.executable, "-c", CONFIG_AFTER_AN_EARLY_IMPORT, str(tmp_path / "db")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [tracked, "False", "False"]
