"""Settings of where things live and run: FiftyOne's database, failforge's own state, Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class FiftyOneSettings(BaseModel):
    """Where FiftyOne keeps its database (one MongoDB per database directory)."""

    database_dir: Path | None = Field(None, description="default: <workspace>/fiftyone")
    database_uri: str | None = Field(None, description="a MongoDB server instead of a local one")
    app_port: int = Field(5151, description="port of `failforge app`")


class StateSettings(BaseModel):
    """Where failforge keeps its own state: registry, loop checkpoints, schedules, the loop lock."""

    url: str | None = Field(
        None,
        description="a Postgres database shared by hosts (postgresql+psycopg://user:pw@host/db; "
        "each workspace gets its own schema, the loop lock becomes an advisory lock); "
        "default: SQLite files in the workspace",
    )
    busy_timeout: float = Field(
        30.0, gt=0, description="seconds a SQLite write waits for another process's lock"
    )


class ExecutionSettings(BaseModel):
    """Where generation and labelling run: in the loop's process, or over Ray workers."""

    backend: Literal["local", "ray"] = Field(
        "local", description="local: in the loop's process; ray: over Ray workers"
    )
    address: str | None = Field(
        None, description="a Ray cluster ('auto', ray://head:10001); default: start one here"
    )
    workers: int = Field(2, ge=1, description="Ray workers per tool; each loads its model once")
    gpus_per_worker: float = Field(
        0.0, ge=0, description="GPUs each worker asks Ray for (1, or 0.5 to share one)"
    )
