"""The SQL store: SQLite (the embedded default, one file, WAL) or PostgreSQL (psycopg 3), through
SQLAlchemy 2, its schema kept by Alembic migrations.

Every change set is written in one database transaction on one dedicated connection, the
*writer*. With PostgreSQL that connection also holds the farm's leader lock (a session-level
advisory lock): only the manager holding it writes, and since its writes go through the very
session that holds the lock, a manager that lost its session (and so its leadership) cannot
write any more: its next change fails and it stops (see ``ChangePath.broken``). With SQLite an
exclusive lock on ``<database>.lock`` plays the same part between processes on one machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from render_farm_manager.core.audit_api import AuditFilter
from render_farm_manager.core.errors import StoreError
from render_farm_manager.core.models import AuditLogEntry
from render_farm_manager.store.base import ChangeSet, JobRow, ModelRow, Snapshot, Store
from render_farm_manager.store.schema import (
    AuditJobRow,
    AuditRow,
    ClientRow,
    FarmStateRow,
    JobRecord,
    JobStateRow,
    NodeRow,
    NodeStateRow,
)

MIGRATIONS = Path(__file__).parent / "migrations"
JOB_COLUMNS = ("id", "seq", "kind", "client_id", "shot_id", "data")
STATE_COLUMNS = ("id", "status", "queue_seq", "patch", "extra")
AUDIT_COLUMNS = ("id", "timestamp", "event_type", "job_id", "node_id", "client_id", "data")
_PG_TYPES = dict.fromkeys(("seq", "queue_seq", "audit_id"), "bigint") | {"timestamp": "timestamp"}
_PG_TYPES |= dict.fromkeys(
    ("id", "key", "kind", "client_id", "shot_id", "data", "status", "patch", "extra"), "text"
)
_PG_TYPES |= dict.fromkeys(("event_type", "job_id", "node_id"), "text")
LEADER_LOCK_KEY = 0x52464D  # "RFM": the advisory lock that makes a manager the leader
T = TypeVar("T")
Execute = Callable[[str, Any], Any]
"""Runs one statement with its parameters (the driver's own placeholders)."""


def engine_url(url: str) -> str:
    """``postgresql://`` (and ``postgres://``) use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


class SqlStore(Store):
    """``SqlStore("sqlite:///farm.db")`` or ``SqlStore("postgresql://host/db")``.

    ``migrate`` brings the schema to this version's head first (else a store of another
    version is refused). ``lead`` waits until this store holds the leader lock (at most
    ``lead_timeout`` seconds, None: for ever; ``on_wait`` is told each time it waits).
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        lead: bool = True,
        lead_timeout: float | None = None,
        poll_seconds: float = 1.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._lock_file: int | None = None
        self.leader = False
        try:
            self.engine = self._engine(engine_url(url))
            self.dialect = self.engine.dialect.name
            if self.dialect not in ("sqlite", "postgresql"):
                raise StoreError(f"unsupported database {self.dialect!r}: use SQLite or PostgreSQL")
            self._writer = self.engine.connect()
            self._qmark = self.engine.dialect.name == "sqlite"  # else PostgreSQL (psycopg)
        except SQLAlchemyError as error:
            raise StoreError(f"cannot open the store at {_safe(url)}: {_reason(error)}") from error
        try:
            if lead:
                self._lead(lead_timeout, poll_seconds, on_wait)
            if migrate:
                self.upgrade()
            self._check_schema()
            self._next = self._counters()
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _engine(self, url: str) -> Engine:
        if url.startswith("sqlite"):
            database = url.split("///", 1)[1] if "///" in url else ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            # The driver's own transaction handling leaves DDL outside transactions: a
            # migration killed half-way would leave half a schema. Begin every transaction
            # here instead, so schema changes commit or roll back as a whole too.
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
            return engine
        return create_engine(url, pool_pre_ping=True)

    def _lead(
        self, timeout: float | None, poll: float, on_wait: Callable[[str], None] | None
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        told = False
        while not self._try_lead():
            if deadline is not None and time.monotonic() >= deadline:
                raise StoreError(
                    f"another manager holds the leadership of {_safe(self.url)}; "
                    f"gave up after {timeout:g} s"
                )
            if on_wait is not None and not told:
                on_wait("standby: another manager is the leader of this store")
                told = True
            time.sleep(poll)
        self.leader = True

    def _try_lead(self) -> bool:
        if self.dialect == "postgresql":
            got = self._writer.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}
            ).scalar()
            self._writer.commit()
            return bool(got)
        database = self.engine.url.database
        if not database or database == ":memory:":
            return True
        fd = os.open(f"{database}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_file = fd
        return True

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema up to ``revision``."""
        self._migrate(lambda config: command.upgrade(config, revision))

    def downgrade(self, revision: str) -> None:
        """Migrate the schema down to ``revision`` (``base``: no tables)."""
        self._migrate(lambda config: command.downgrade(config, revision))

    def _migrate(self, run: Callable[[Config], None]) -> None:
        with self._lock:
            try:
                run(alembic_config(self._writer))
                self._writer.commit()
            except SQLAlchemyError as error:
                self._writer.rollback()
                raise StoreError(f"migrating {_safe(self.url)} failed: {_reason(error)}") from error

    def revision(self) -> str | None:
        """The schema revision the database is at (None: no schema)."""
        with self._lock:
            current = MigrationContext.configure(self._writer).get_current_revision()
            self._writer.commit()
            return current

    def _check_schema(self) -> None:
        current, head = self.revision(), head_revision()
        if current != head:
            raise StoreError(
                f"the store at {_safe(self.url)} has schema {current or '(none)'}, this "
                f"version needs {head}: open it with migrate=True (render-farm serve does)"
            )

    def _counters(self) -> dict[str, int]:
        def top(column: Any) -> int:
            return int(self._writer.execute(select(func.max(column))).scalar() or 0)

        with self._lock:
            counters = {
                "clients": top(ClientRow.seq),
                "nodes": top(NodeRow.seq),
                "jobs": top(JobRecord.seq),
                "audit": top(AuditRow.id),
            }
            self._writer.commit()
            return counters

    # -- reading -------------------------------------------------------------------------------

    def load(self) -> Snapshot:
        with self._reading() as connection:
            clients = connection.execute(
                select(ClientRow.id, ClientRow.kind, ClientRow.data).order_by(ClientRow.seq)
            )
            snapshot = Snapshot(clients=[ModelRow(*row) for row in clients])
            nodes = connection.execute(
                select(NodeRow.id, NodeRow.data, NodeStateRow.patch)
                .join(NodeStateRow, NodeStateRow.id == NodeRow.id)
                .order_by(NodeRow.seq)
            )
            snapshot.nodes = [ModelRow(row[0], "node", row[1], row[2]) for row in nodes]
            jobs = connection.execute(
                select(
                    JobRecord.id,
                    JobRecord.kind,
                    JobRecord.client_id,
                    JobStateRow.status,
                    JobRecord.shot_id,
                    JobRecord.data,
                    JobStateRow.extra,
                    JobStateRow.patch,
                    JobStateRow.queue_seq,
                )
                .join(JobStateRow, JobStateRow.id == JobRecord.id)
                .order_by(JobRecord.seq)
            )
            snapshot.jobs = [JobRow(*row) for row in jobs]
            state = connection.execute(select(FarmStateRow.key, FarmStateRow.data))
            snapshot.state = {str(key): str(data) for key, data in state}
            return snapshot

    def audit_entries(self, wanted: AuditFilter, limit: int, offset: int) -> list[AuditLogEntry]:
        query = select(AuditRow.data)
        if wanted.job_id is not None:
            linked = select(AuditJobRow.audit_id).where(AuditJobRow.job_id == wanted.job_id)
            query = query.where(or_(AuditRow.job_id == wanted.job_id, AuditRow.id.in_(linked)))
        for column, value in (
            (AuditRow.node_id, wanted.node_id),
            (AuditRow.client_id, wanted.client_id),
            (AuditRow.event_type, wanted.event_type),
        ):
            if value is not None:
                query = query.where(column == value)
        if wanted.since is not None:
            query = query.where(AuditRow.timestamp >= wanted.since)
        if wanted.until is not None:
            query = query.where(AuditRow.timestamp <= wanted.until)
        query = query.order_by(AuditRow.id).limit(limit).offset(offset)
        with self._reading() as connection:
            rows = connection.execute(query).scalars().all()
        return [AuditLogEntry.model_validate_json(data) for data in rows]

    def audit_count(self) -> int:
        with self._reading() as connection:
            return int(connection.execute(select(func.count()).select_from(AuditRow)).scalar() or 0)

    def counts(self) -> dict[str, int]:
        """Rows per table (clients, nodes, jobs, audit)."""
        with self._reading() as connection:
            return {
                name: int(connection.execute(select(func.count()).select_from(table)).scalar() or 0)
                for name, table in (
                    ("clients", ClientRow),
                    ("nodes", NodeRow),
                    ("jobs", JobRecord),
                    ("audit", AuditRow),
                )
            }

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as error:
            raise StoreError(f"reading {_safe(self.url)} failed: {_reason(error)}") from error

    # -- writing -------------------------------------------------------------------------------

    def write(self, changes: ChangeSet) -> None:
        self.write_many([changes])

    def write_many(self, batch: list[ChangeSet]) -> None:
        """Several change sets, in order, in one transaction (one commit for all)."""
        with self._lock:
            counters = dict(self._next)
            try:
                if self._qmark:
                    with self._writer.begin():
                        for changes in batch:
                            self._write(self._writer.exec_driver_sql, changes, counters)
                else:
                    self._write_raw(batch, counters)
            except (SQLAlchemyError, psycopg.Error) as error:
                raise StoreError(
                    f"writing to {_safe(self.url)} failed: {_reason(error)}"
                ) from error
            self._next = counters

    def _write_raw(self, batch: list[ChangeSet], counters: dict[str, int]) -> None:
        """PostgreSQL: straight through psycopg, on the writer's own session (the one holding
        the leader lock: a manager that lost its session cannot write)."""
        raw: Any = self._writer.connection.dbapi_connection
        try:
            with raw.cursor() as cursor:
                for changes in batch:
                    self._write(cursor.execute, changes, counters)
            raw.commit()
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                raw.rollback()
            raise

    def _insert(
        self,
        execute: Execute,
        table: str,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        upsert: bool = True,
    ) -> None:
        """Insert rows; with ``upsert``, a row whose key exists replaces it (``seq``, the
        first-write order, is kept). PostgreSQL gets all rows in one statement (arrays)."""
        if not rows:
            return
        names = ", ".join(columns)
        conflict = ""
        if upsert:
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("id", "seq"))
            conflict = f" ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
        if self._qmark:
            marks = ", ".join("?" * len(columns))
            execute(f"INSERT INTO {table} ({names}) VALUES ({marks}){conflict}", rows)
            return
        arrays = ", ".join(f"%s::{_pg_type(table, c)}[]" for c in columns)
        execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}){conflict}",
            tuple(list(column) for column in zip(*rows, strict=True)),
        )

    def _update(
        self,
        execute: Execute,
        table: str,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """Set ``columns`` of the rows whose id is each row's last value."""
        if not rows:
            return
        if self._qmark:
            assignments = ", ".join(f"{c} = ?" for c in columns)
            execute(f"UPDATE {table} SET {assignments} WHERE id = ?", rows)
            return
        every = (*columns, "id")
        arrays = ", ".join(f"%s::{_pg_type(table, c)}[]" for c in every)
        assignments = ", ".join(f"{c} = v.{c}" for c in columns)
        execute(
            f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({', '.join(every)}) "
            f"WHERE {table}.id = v.id",
            tuple(list(column) for column in zip(*rows, strict=True)),
        )

    def _delete(self, execute: Execute, table: str, ids: list[str]) -> None:
        if not ids:
            return
        if self._qmark:
            execute(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in ids])
        else:
            execute(f"DELETE FROM {table} WHERE id = ANY(%s)", (ids,))

    def _write(self, execute: Execute, changes: ChangeSet, next_: dict[str, int]) -> None:
        def seq(name: str) -> int:
            next_[name] += 1
            return next_[name]

        self._delete(execute, "job_state", changes.deleted_jobs)
        self._delete(execute, "jobs", changes.deleted_jobs)
        self._delete(execute, "node_state", changes.deleted_nodes)
        self._delete(execute, "nodes", changes.deleted_nodes)
        self._delete(execute, "clients", changes.deleted_clients)
        self._insert(
            execute,
            "clients",
            ("id", "seq", "kind", "data"),
            [(c.id, seq("clients"), c.kind, c.data) for c in changes.clients],
        )
        self._insert(
            execute,
            "nodes",
            ("id", "seq", "data"),
            [(n.id, seq("nodes"), n.data) for n in changes.nodes],
        )
        self._insert(execute, "node_state", ("id", "patch"), [(n.id, None) for n in changes.nodes])
        self._update(
            execute, "node_state", ("patch",), [(p.patch, p.id) for p in changes.node_patches]
        )
        self._insert(
            execute,
            "jobs",
            JOB_COLUMNS,
            [(j.id, seq("jobs"), j.kind, j.client_id, j.shot_id, j.data) for j in changes.jobs],
        )
        self._insert(
            execute,
            "job_state",
            STATE_COLUMNS,
            [(j.id, j.status, j.queue_seq, None, j.extra) for j in changes.jobs],
        )
        patches = changes.job_patches
        self._update(
            execute,
            "job_state",
            ("status", "queue_seq"),
            [(p.status, p.queue_seq, p.id) for p in patches if p.light],
        )
        self._update(
            execute,
            "job_state",
            ("status", "queue_seq", "patch", "extra"),
            [(p.status, p.queue_seq, p.patch, p.extra, p.id) for p in patches if not p.light],
        )
        self._insert(execute, "farm_state", ("key", "data"), list(changes.state.items()))
        if changes.audit:
            rows, links = [], []
            for entry in changes.audit:
                number = seq("audit")
                rows.append(
                    (
                        number,
                        entry.timestamp,
                        entry.event_type,
                        entry.job_id,
                        entry.node_id,
                        entry.client_id,
                        entry.model_dump_json(),
                    )
                )
                for job_id in dict.fromkeys(entry.details.get("job_ids", ())):
                    links.append((number, job_id))
            self._insert(execute, "audit", AUDIT_COLUMNS, rows, upsert=False)
            self._insert(execute, "audit_jobs", ("audit_id", "job_id"), links, upsert=False)

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            writer = getattr(self, "_writer", None)
            if writer is not None:
                with contextlib.suppress(SQLAlchemyError):
                    writer.close()  # ends the session: the advisory lock goes with it
                self._writer = None  # type: ignore[assignment]
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None
            engine = getattr(self, "engine", None)
            if engine is not None:
                engine.dispose()
            self.leader = False


def _pg_type(table: str, column: str) -> str:
    return "bigint" if (table, column) == ("audit", "id") else _PG_TYPES[column]


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.isolation_level = None  # transactions begin in the engine's "begin" event
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _safe(url: str) -> str:
    """The URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url


def _reason(error: Exception) -> str:
    original = getattr(error, "orig", None)
    return str(original or error).strip().splitlines()[0]
