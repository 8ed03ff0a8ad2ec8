"""The registry: model versions, cycles, batches with decisions, finished steps and an append-only event log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    select,
    text,
    update,
)
from sqlalchemy.exc import DatabaseError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from storage.state import StateLocation, StateLockedError, is_locked, locked_as_error
from storage.workspace import Workspace, WorkspaceError


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class ModelVersion(Base):
    """A trained detector: where its weights are, what it came from, how it measured."""

    __tablename__ = "model_versions"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    parent: Mapped[str | None] = mapped_column(ForeignKey("model_versions.name"))
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # incumbent | candidate | rejected | retired
    reason: Mapped[str] = mapped_column(Text, default="")
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Batch(Base):
    """A synthetic batch proposed in a cycle, and the decision on it."""

    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loop_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    image_count: Mapped[int] = mapped_column(Integer, default=0)
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prompts: Mapped[list[Any]] = mapped_column(default=list)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class StepRecord(Base):
    """A finished side-effecting step, keyed by (loop, cycle, step), with what it produced."""

    __tablename__ = "steps"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Event(Base):
    """One line of the append-only log: what happened, when, in which loop, cycle and step."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    loop_id: Mapped[str] = mapped_column(String(64), default="")
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Registry:
    """What happened in a workspace, in one SQLite file (or any SQLAlchemy URL)."""

    @classmethod
    def at(cls, location: StateLocation) -> Registry:
        """The workspace's registry wherever its state lives."""
        return cls(
            location.sqlalchemy_url(Workspace.REGISTRY_NAME), location.busy_timeout, location.schema
        )

    def __init__(
        self, url_or_path: str | Path, busy_timeout: float = 30.0, schema: str | None = None
    ) -> None:
        url = url_or_path if isinstance(url_or_path, str) else f"sqlite:///{url_or_path}"
        sqlite = url.startswith("sqlite")
        self._engine = create_engine(
            url,
            json_serializer=lambda v: json.dumps(v, default=str),
            # A writer waits this long for another process's lock, then the step fails.
            connect_args={"timeout": busy_timeout} if sqlite else {},
            execution_options={"schema_translate_map": {None: schema}} if schema else {},
        )
        try:
            if schema:
                with self._engine.begin() as connection:
                    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            Base.metadata.create_all(self._engine)
        except DatabaseError as error:
            if is_locked(error):  # busy, not damaged: the caller says so
                raise StateLockedError(f"The registry {url_or_path} stayed locked.") from error
            raise WorkspaceError(
                f"The registry {url_or_path} cannot be read as a database "
                f"({type(error.orig).__name__}: damaged or overwritten); restore it from a copy "
                "(nothing was changed)."
            ) from None
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with locked_as_error("registry"), self._sessions.begin() as session:
            yield session

    # -- model versions -------------------------------------------------------------------
    def add_model(
        self,
        name: str,
        path: Path,
        parent: str | None,
        status: str,
        metrics: dict[str, Any],
        cycle: int = 0,
        reason: str = "",
    ) -> ModelVersion:
        with self.session() as s:
            model = ModelVersion(
                name=name,
                path=str(path),
                parent=parent,
                status=status,
                metrics=metrics,
                cycle=cycle,
                reason=reason,
            )
            s.merge(model)
        return model

    def model(self, name: str) -> ModelVersion | None:
        with self.session() as s:
            return s.get(ModelVersion, name)

    def models(self) -> list[ModelVersion]:
        with self.session() as s:
            return list(s.scalars(select(ModelVersion).order_by(ModelVersion.created_at)))

    def relocate_models(self, old_root: Path, new_root: Path) -> None:
        """Point every model file under `old_root` at the same place under `new_root`, for a
        registry copied with its workspace."""
        with self.session() as s:
            for model in s.scalars(select(ModelVersion)):
                model.path = str(new_root / Path(model.path).relative_to(old_root))

    def incumbent(self) -> ModelVersion | None:
        with self.session() as s:
            return s.scalars(select(ModelVersion).where(ModelVersion.status == "incumbent")).first()

    def promote(self, name: str, reason: str) -> None:
        """Make `name` the incumbent and retire the previous one, in one transaction."""
        with self.session() as s:
            for old in s.scalars(select(ModelVersion).where(ModelVersion.status == "incumbent")):
                old.status = "retired"
            model = s.get(ModelVersion, name)
            if model is None:
                raise KeyError(name)
            model.status, model.reason = "incumbent", reason

    def set_model_status(
        self, name: str, status: str, reason: str = "", metrics: dict[str, Any] | None = None
    ) -> None:
        with self.session() as s:
            model = s.get(ModelVersion, name)
            if model is None:
                raise KeyError(name)
            model.status, model.reason = status, reason
            if metrics is not None:
                model.metrics = metrics

    def next_model_name(self) -> str:
        return f"v{len(self.models()) + 1}"

    # -- batches -----------------------------------------------------------------------------
    def add_batch(
        self,
        batch_id: str,
        loop_id: str,
        cycle: int,
        image_count: int,
        scores: dict[str, Any],
        prompts: list[Any],
    ) -> None:
        with self.session() as s:
            if s.get(Batch, batch_id) is None:
                s.add(
                    Batch(
                        id=batch_id,
                        loop_id=loop_id,
                        cycle=cycle,
                        image_count=image_count,
                        scores=scores,
                        prompts=prompts,
                    )
                )

    def batch(self, batch_id: str) -> Batch | None:
        with self.session() as s:
            return s.get(Batch, batch_id)

    def batches(self) -> list[Batch]:
        with self.session() as s:
            return list(s.scalars(select(Batch).order_by(Batch.created_at)))

    def decide_batch(
        self, batch_id: str, status: str, by: str, reason: str = "", image_count: int | None = None
    ) -> bool:
        """Record a decision on a proposed batch; False if it was already decided (no change).

        One conditional UPDATE, so of any number of concurrent deciders exactly one wins.
        """
        values: dict[str, Any] = {
            "status": status,
            "decided_by": by,
            "reason": reason,
            "decided_at": _now(),
        }
        if image_count is not None:
            values["image_count"] = image_count
        with self.session() as s:
            result = s.execute(
                update(Batch)
                .where(Batch.id == batch_id, Batch.status == "proposed")
                .values(**values)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return True
            if s.get(Batch, batch_id) is None:
                raise KeyError(batch_id)
            return False

    def update_batch_images(self, batch_id: str, image_count: int) -> None:
        with self.session() as s:
            s.execute(update(Batch).where(Batch.id == batch_id).values(image_count=image_count))

    # -- steps and events ------------------------------------------------------------------
    def step_result(self, key: str) -> dict[str, Any] | None:
        with self.session() as s:
            record = s.get(StepRecord, key)
            return None if record is None else dict(record.result)

    def record_step(
        self, key: str, result: dict[str, Any], event: Event | None = None
    ) -> dict[str, Any]:
        """Store a step's result once (with its event, in the same transaction, so a kill
        between them cannot log it twice); if another run stored it first, return theirs."""
        try:
            with self.session() as s:
                s.add(StepRecord(key=key, result=result))
                if event is not None:
                    s.add(event)
            return result
        except IntegrityError:
            existing = self.step_result(key)
            assert existing is not None
            return existing

    def log(
        self, kind: str, loop_id: str = "", cycle: int = 0, step: str = "", **payload: Any
    ) -> None:
        with self.session() as s:
            s.add(Event(kind=kind, loop_id=loop_id, cycle=cycle, step=step, payload=payload))

    def log_once(
        self, key: str, kind: str, loop_id: str = "", cycle: int = 0, step: str = "", **payload: Any
    ) -> None:
        """Log an event unless one was logged under `key` before (a loop node that a killed
        process had finished runs again on resume, and must not tell its story twice)."""
        # record_step keeps the first run's marker and drops this event if one is there.
        event = Event(kind=kind, loop_id=loop_id, cycle=cycle, step=step, payload=payload)
        self.record_step(f"event/{key}", {"kind": kind}, event)

    def last_events(self, count: int) -> list[Event]:
        """The `count` newest events, oldest first."""
        with self.session() as s:
            query = select(Event).order_by(Event.id.desc()).limit(count)
            return list(reversed(list(s.scalars(query))))

    def events(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        with self.session() as s:
            query = select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
            return list(s.scalars(query))
