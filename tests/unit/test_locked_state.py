"""A workspace's SQLite state held by another process is recognised by SQLite's code, not words."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from storage.state import StateLockedError, is_locked, locked_as_error


def _busy_error(path: Path) -> sqlite3.OperationalError:
    holder = sqlite3.connect(path, timeout=0.05)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    reader = sqlite3.connect(path, timeout=0.05)
    try:
        reader.execute("SELECT * FROM t")
    except sqlite3.OperationalError as error:
        return error
    finally:
        reader.close()
        holder.close()
    raise AssertionError("the exclusive lock let a reader in")


def test_a_busy_database_is_locked_directly_and_through_sqlalchemy(tmp_path: Path) -> None:
    busy = _busy_error(tmp_path / "state.sqlite")
    assert is_locked(busy)
    assert is_locked(OperationalError("SELECT * FROM t", {}, busy))


def test_a_message_that_says_locked_is_not_a_lock() -> None:
    assert not is_locked(sqlite3.OperationalError("table 'locked' has no column x"))
    assert not is_locked(RuntimeError("database is locked"))


def test_only_a_lock_becomes_a_state_locked_error(tmp_path: Path) -> None:
    busy = _busy_error(tmp_path / "state.sqlite")
    with (
        pytest.raises(StateLockedError, match="checkpoints stayed locked"),
        locked_as_error("checkpoints"),
    ):
        raise busy
    with pytest.raises(ValueError, match="not a lock"), locked_as_error("checkpoints"):
        raise ValueError("not a lock")
