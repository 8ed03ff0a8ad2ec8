"""The API's loop runner: at most one loop at a time in a background thread, paused between steps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from agent.control.runner import (
    LoopBusyError,
    LoopOutcome,
    current_loop_id,
    loop_status,
    resume_loop,
    start_loop,
)
from agent.ports import Deps


class LoopPaused(Exception):
    """Raised between steps to pause a loop; its checkpoint lets it resume later."""


class LoopService:
    """Runs at most one loop at a time in a background thread; pausing stops between steps."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
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
                    "loop_paused", current_loop_id(self.deps) or "", 0, str(paused)
                )
            except Exception as error:  # reported on /status, and in the event log
                self.last_error = f"{type(error).__name__}: {error}"
                self.deps.registry.log(
                    "loop_failed", current_loop_id(self.deps) or "", 0, error=self.last_error
                )

        with self._guard:
            if self.running:
                raise LoopBusyError("A loop is already running in this service.")
            self._pause.clear()
            self.last_error = None
            self._thread = threading.Thread(target=target, name="failforge-loop", daemon=True)
            self._thread.start()

    def start(self, cycles: int, budget: int, auto_approve: bool) -> None:
        loop_id = current_loop_id(self.deps)
        if loop_id is not None and not loop_status(self.deps, loop_id).finished:
            raise LoopBusyError(f"Loop {loop_id} is not finished; resume or stop it first.")
        self._run(lambda: start_loop(self.deps, cycles, budget, auto_approve, self._observe))

    def resume(self, decision: dict[str, Any] | None = None) -> None:
        self._run(lambda: resume_loop(self.deps, decision, self._observe))

    def pause(self) -> bool:
        self._pause.set()
        return self.running

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
