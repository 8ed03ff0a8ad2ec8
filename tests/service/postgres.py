"""A throwaway Postgres server for tests: Debian's binaries, a temporary cluster, 127.0.0.1 only."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_binary(name: str) -> str | None:
    """`initdb` and `pg_ctl` are on PATH, or in Debian's versioned folder."""
    found = shutil.which(name)
    return found or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a cluster and yield its SQLAlchemy URL; stopped and removed afterwards.

    Postgres refuses to run as root, so as root it runs as the `postgres` user the package made.
    """
    initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
    assert initdb and pg_ctl, "Postgres is not installed"
    root = Path(tempfile.mkdtemp(prefix="failforge-pg-"))
    as_user: list[str] = []
    if os.getuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "failforge"], **run)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        **run,
    )
    try:
        yield f"postgresql+psycopg://failforge@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], **run)
        shutil.rmtree(root, ignore_errors=True)
