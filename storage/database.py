"""The FiftyOne database of a workspace: this process's connection, its own mongod, durable writes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_connected_to: str | None = None


class DatabaseConflictError(RuntimeError):
    """One process can talk to one FiftyOne database; a second one was asked for."""


def database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean FiftyOne's database stopped answering (mongod gone or hung)."""
    from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError

    return (ConnectionFailure, AutoReconnect, ServerSelectionTimeoutError)


def database_location() -> str:
    """Where this process's FiftyOne database is, for messages."""
    return _connected_to or "(not connected)"


def connect(database_dir: Path, database_uri: str | None = None) -> None:
    """Point FiftyOne at the workspace's database before first use (it reads config at import)."""
    global _connected_to
    target = database_uri or str(database_dir.resolve())
    if _connected_to is not None:
        if _connected_to != target:
            raise DatabaseConflictError(
                f"This process already uses the FiftyOne database at {_connected_to}; "
                f"run one workspace per process or share fiftyone.database_dir."
            )
        return
    # FiftyOne reads these once, when it is first imported; they cannot be passed as arguments.
    os.environ["FIFTYONE_DATABASE_DIR"] = str(database_dir)
    if database_uri:
        os.environ["FIFTYONE_DATABASE_URI"] = database_uri
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
    if not database_uri:
        _start_database(database_dir)
    _journal_every_write()
    import logging

    import fiftyone as fo

    # FiftyOne logs each evaluation's phases at INFO; the CLI shows its own progress instead.
    logging.getLogger("fiftyone").setLevel(logging.WARNING)
    fo.config.database_dir = str(database_dir)
    if database_uri:
        fo.config.database_uri = database_uri
    # FiftyOne may have been imported before this call (a plugin module imported first), its
    # config read without the settings above: apply them to the live config too. The App's
    # server takes `do_not_track` from it; found when the App, launched after such an import,
    # laid its analytics banner over the review panel's buttons.
    fo.config.do_not_track = _env_flag("FIFTYONE_DO_NOT_TRACK")
    fo.config.database_validation = _env_flag("FIFTYONE_DATABASE_VALIDATION")
    fo.config.show_progress_bars = _env_flag("FIFTYONE_SHOW_PROGRESS_BARS")
    _connected_to = target


def _env_flag(name: str) -> bool:
    """A boolean environment variable as FiftyOne parses it ("true"/"1"/"yes" are true)."""
    return os.environ.get(name, "").strip().lower() in ("true", "1", "yes")


_database_service: Any = None  # kept for the process's life: dropping it stops our mongod


def _start_database(database_dir: Path) -> None:
    """Start this directory's mongod, or join the one another process started for it.

    FiftyOne joins whatever database service runs on the machine, whatever its directory, and
    children inherit its port: a second workspace's data would land in the first one's database
    (and die with it). The service is found by its arguments, so ours carries the directory.
    A mongod on this directory that plain FiftyOne started (its App, an older failforge) is
    joined by its port: a second mongod cannot open a directory that one already holds.
    """
    global _database_service
    import fiftyone.core.service as fos
    import fiftyone.service.util as fosu

    directory = str(database_dir.resolve())
    tag = ["--failforge-dbpath", directory]

    class WorkspaceDatabaseService(fos.DatabaseService):  # type: ignore[misc]
        @property
        def _service_args(self) -> list[str]:
            # FiftyOne's service entry point skips "--flag value" pairs it does not know.
            return [*super()._service_args, *tag]

    os.environ.pop("FIFTYONE_PRIVATE_DATABASE_PORT", None)  # a parent's database, maybe not ours
    os.environ["FIFTYONE_DATABASE_DIR"] = str(database_dir)  # the service's mongod reads it
    ours = list(fosu.find_processes_by_args(["--51-service", "db", "--multi", *tag]))
    port = None if ours else _foreign_mongod_port(directory)
    if port is None:
        _database_service = WorkspaceDatabaseService()
        port = _database_service.port
    os.environ["FIFTYONE_PRIVATE_DATABASE_PORT"] = str(port)


def _journal_every_write() -> None:
    """Acknowledge a write only once mongod has journaled it.

    By default mongod acknowledges a write up to 100 ms before its journal reaches the disk; a
    mongod killed in between loses it while the registry (SQLite, durable) already says the
    step is done. Found by killing it just after a decision: the registry said 15 approved
    images and FiftyOne had none, so the resumed cycle would have trained on nothing. FiftyOne
    builds every client (pymongo, mongoengine, motor) from these keyword arguments.
    """
    import fiftyone.core.odm.database as fodb

    fodb._connection_kwargs["journal"] = True


def _foreign_mongod_port(directory: str) -> int | None:
    """The port of a mongod serving `directory` that some other FiftyOne started, if any."""
    import psutil
    from fiftyone.service.util import get_listening_tcp_ports

    for process in psutil.process_iter(["cmdline"]):
        command = process.info["cmdline"] or []
        if not command or not Path(command[0]).name.startswith("mongod"):
            continue
        if "--dbpath" not in command[:-1]:  # the flag with a value after it
            continue
        if str(Path(command[command.index("--dbpath") + 1]).resolve()) != directory:
            continue
        try:
            return next(iter(get_listening_tcp_ports(process)), None)
        except psutil.Error:
            return None
    return None
