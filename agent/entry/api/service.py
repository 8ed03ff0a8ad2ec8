"""The API's loop runner: at most one loop at a time in a background thread, paused between steps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from agent.control.runner import LoopBusyError, LoopDriver, LoopOutcome
from agent.state import Decision


class LoopPaused(Exception):
    """Raised between steps to pause a loop; its checkpoint lets it resume later."""


class LoopService:
    """Runs at most one loop at a time in a background thread; pausing stops between steps."""

    def __init__(self, driver: LoopDriver) -> None:
        self.driver = driver
        self.deps = driver.deps
        self._thread: threading.Thread | None = None
        self._pause = threading.Event()
        self._guard = threading.Lock()
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _observe(self, node: str, update: dict[str, Any]) -> None:
        if self._pause.is_set():
            raise LoopPaused(node)

    def _run(self, work: Callable[[], LoopOutcome]) -> None:
        def target() -> None:
            try:
                work()
            except LoopPaused as paused:
                self.deps.registry.log(
                    "loop_paused", self.driver.current_id() or "", 0, str(paused)
                )
            except Exception as error:  # reported on /status, and in the event log
                self.last_error = f"{type(error).__name__}: {error}"
                self.deps.registry.log(
                    "loop_failed", self.driver.current_id() or "", 0, error=self.last_error
                )

        with self._guard:
            if self.running:
                raise LoopBusyError("A loop is already running in this service.")
            self._pause.clear()
            self.last_error = None
            self._thread = threading.Thread(target=target, name="failforge-loop", daemon=True)
            self._thread.start()

    def start(self, cycles: int, budget: int, auto_approve: bool) -> None:
        current = self.driver.current()
        if current is not None and not current.finished:
            raise LoopBusyError(f"Loop {current.loop_id} is not finished; resume or stop it first.")
        self._run(lambda: self.driver.start(cycles, budget, auto_approve, self._observe))

    def resume(self, decision: Decision | None = None) -> None:
        self._run(lambda: self.driver.resume(decision, self._observe))

    def pause(self) -> bool:
        self._pause.set()
        return self.running

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
