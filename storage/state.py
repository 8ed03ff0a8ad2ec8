"""Where a workspace's own state lives: SQLite files in its folder, or a shared Postgres database.

The registry, the LangGraph checkpoints and the scheduler's jobs go to the same place. On
Postgres each workspace has its own schema, and "one loop per workspace" is an advisory lock
held on a connection, which the server releases when the holder dies or its connection drops.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SQLITE_BUSY, SQLITE_LOCKED = 5, 6  # SQLite's primary result codes for "another holds the lock"


class StateBusyError(RuntimeError):
    """Another process holds the workspace's loop lock in the shared database."""


class StateLockedError(RuntimeError):
    """The workspace's SQLite state (registry or checkpoints) stayed locked by another process for
    longer than state.busy_timeout: busy, not damaged."""


def is_locked(error: BaseException) -> bool:
    """SQLite's busy or locked answer, raised directly (checkpoints) or through SQLAlchemy
    (registry, as `orig`); read from its result code, whatever the message's wording."""
    cause = getattr(error, "orig", None) or error
    code = getattr(cause, "sqlite_errorcode", None)
    # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in their low byte.
    return isinstance(code, int) and code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)


@contextmanager
def locked_as_error(what: str) -> Iterator[None]:
    """Turn SQLite's busy answer on `what` into a StateLockedError; any other error passes."""
    try:
        yield
    except Exception as error:
        if is_locked(error):
            raise StateLockedError(f"The workspace's {what} stayed locked ({error}).") from error
        raise


@dataclass(frozen=True)
class StateLocation:
    """A workspace's state: `url` of a shared Postgres database, or None for SQLite files."""

    url: str | None
    workspace: Path
    workspace_id: str
    busy_timeout: float = 30.0

    @property
    def shared(self) -> bool:
        return self.url is not None

    @property
    def schema(self) -> str | None:
        """The workspace's own schema in a shared database (ids are hex, so it is a safe name)."""
        return f"failforge_{self.workspace_id}" if self.shared else None

    def sqlalchemy_url(self, sqlite_file: str) -> str:
        return self.url if self.url else f"sqlite:///{self.workspace / sqlite_file}"

    def libpq_url(self) -> str:
        """The URL as psycopg takes it (SQLAlchemy's `+driver` removed)."""
        assert self.url is not None
        scheme, rest = self.url.split("://", 1)
        return f"{scheme.split('+')[0]}://{rest}"

    def connect(self, autocommit: bool = True) -> Any:
        """A psycopg connection whose unqualified tables are the workspace's schema."""
        import psycopg
        from psycopg.rows import dict_row

        connection = psycopg.connect(
            self.libpq_url(), autocommit=autocommit, prepare_threshold=0, row_factory=dict_row
        )
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        connection.execute(f'SET search_path TO "{self.schema}"')
        return connection

    @contextmanager
    def advisory_lock(self) -> Iterator[None]:
        """Hold the workspace's loop lock in the database; StateBusyError when another has it."""
        key = zlib.crc32(f"failforge loop {self.workspace_id}".encode()) - 2**31
        with self.connect() as connection:
            row = connection.execute("SELECT pg_try_advisory_lock(%s) AS held", (key,)).fetchone()
            if not row["held"]:
                raise StateBusyError(
                    "A loop is already running on this workspace (another process or host "
                    "holds its lock in the shared database); wait for it or stop it first."
                )
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
