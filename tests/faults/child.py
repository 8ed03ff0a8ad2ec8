"""The victim: `failforge run` in this process, SIGKILLed at one kill point (a test helper only).

    python -m tests.faults.child POINT MARKER DELAY -- run -w WORKSPACE ...

POINT is `NODE:start|middle|end` (a graph node; `middle` fires DELAY seconds after the node
starts), `Registry.METHOD:inside` (after the method's SQL reached the database, before it was
committed) or `timing` (no kill: each node's first duration is written to MARKER as JSON).
Only the first occurrence of a point kills; MARKER records where the process died.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

_current = {"node": ""}


def _die(marker: Path, where: str) -> None:
    marker.write_text(f"{where} (in {_current['node'] or 'no node'})")
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap_node(step: Callable[..., Any], point: str, marker: Path, delay: float) -> Callable:
    name, phase = step.__name__, point.partition(":")[2]
    target = point.partition(":")[0]
    durations: dict[str, float] = {}
    fired = [False]

    @wraps(step)
    def node(*args: Any, **kwargs: Any) -> Any:
        _current["node"] = name
        aimed = name == target and not fired[0]
        if aimed and phase == "start":
            _die(marker, point)
        if aimed and phase == "middle":
            fired[0] = True
            threading.Timer(delay, _die, args=(marker, point)).start()
        started = time.perf_counter()
        result = step(*args, **kwargs)
        if point == "timing" and name not in durations:
            durations[name] = time.perf_counter() - started
            recorded = json.loads(marker.read_text()) if marker.is_file() else {}
            marker.write_text(json.dumps({**recorded, **durations}))
        if aimed and phase == "end":
            _die(marker, point)
        return result

    return node


def _kill_inside(method: str, marker: Path, point: str) -> None:
    """Kill inside `Registry.<method>`: its statements flushed, the transaction not committed."""
    from storage.registry import Registry

    original_session = Registry.session
    original_method = getattr(Registry, method)
    inside = [False]

    @contextmanager
    def session(self: Registry) -> Iterator[Any]:
        with original_session(self) as s:
            yield s
            if inside[0]:
                s.flush()
                _die(marker, point)

    @wraps(original_method)
    def wrapped(self: Registry, *args: Any, **kwargs: Any) -> Any:
        inside[0] = True
        return original_method(self, *args, **kwargs)

    Registry.session = session  # type: ignore[method-assign]
    setattr(Registry, method, wrapped)


def install(point: str, marker: Path, delay: float) -> None:
    from agent import graph

    if point.startswith("Registry."):
        _kill_inside(point.partition(":")[0].split(".", 1)[1], marker, point)
    graph.STEPS[:] = [_wrap_node(step, point, marker, delay) for step in graph.STEPS]


def main(argv: list[str]) -> None:
    point, marker, delay = argv[0], Path(argv[1]), float(argv[2])
    install(point, marker, delay)
    from agent.entry.cli import app

    app(argv[argv.index("--") + 1 :], prog_name="failforge")


if __name__ == "__main__":
    main(sys.argv[1:])
