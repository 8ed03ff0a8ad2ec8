"""Files written whole or not at all: a reader, or a process resumed after a kill, never finds half of one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed over `path` when the block ends
    (an atomic replace on one file system), removed if the block raises.

    The temporary name is unique (two writers never share it) and keeps `path`'s suffix, so
    a library that picks its format by the name (PIL) writes the right one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_whole(path: Path, text: str) -> None:
    """`text` written to `path` whole or not at all."""
    with written_whole(path) as partial:
        partial.write_text(text)
