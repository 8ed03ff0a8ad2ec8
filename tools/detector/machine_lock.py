"""Detector work takes turns on a machine: one training or prediction at a time, all workspaces.

Two trainings on the same cores do not each run at half speed: their torch threads oversubscribe
the cores (measured on 2 cores: a baseline whose epochs take 2 s alone took 30-100 s each beside
a benchmark's training). So every failforge process holds one lock file (fcntl, released by the
kernel when a process dies) around each training, prediction, embedding and validation, and one
that has to wait says whom it waits for.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

# Machine-wide: every user's failforge on this machine (the file is opened read-only when another
# user created it; fcntl locks do not need write access).
DEFAULT_PATH = Path(tempfile.gettempdir()) / "failforge-detector.lock"

_turn = threading.Lock()  # threads of one process take turns before the file lock


class _Holding(threading.local):
    """Whether this thread holds the turn: a prediction inside a training's callback has it."""

    now = False


_holding = _Holding()


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class MachineLock:
    """`with lock.held("training v2")`: waits for any other failforge's turn to end first."""

    def __init__(self, path: Path | None = DEFAULT_PATH, say: Callable[[str], None] = _say):
        self.path = path
        self.say = say

    @contextlib.contextmanager
    def held(self, what: str) -> Iterator[None]:
        if self.path is None or _holding.now:
            yield  # switched off, or this thread holds the turn already
            return
        with _turn:
            fd = self._open()
            try:
                self._acquire(fd, what)
                _holding.now = True
                try:
                    yield
                finally:
                    _holding.now = False
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _open(self) -> int:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:  # another user's lock file: waiting works, saying who does not
            return os.open(self.path, os.O_RDONLY)

    def _acquire(self, fd: int, what: str) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "unknown"
            self.say(
                f"Waiting for another failforge on this machine ({holder}) to finish before "
                f"{what}: detector work takes turns, since two at once oversubscribe the cores "
                f"(detector.machine_lock: null runs beside it)."
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):  # read-only: another user's file
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, {what}".encode(), 0)
