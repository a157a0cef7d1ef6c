"""The tables of the SQL store (SQLAlchemy 2 declarative models). Alembic migrations in
``store/migrations`` create and change them; this module is what the code reads and writes.

Clients, nodes and jobs are one row each with the model as JSON (``data``) and the columns the
store filters on beside it. What changes all the time lives apart: a job's status, place in the
ready queue, hot fields (``patch``, JSON over ``data``) and what the manager remembers about it
in ``job_state``, a node's hot fields in ``node_state``, so that such a change rewrites a few
bytes, not the model; ``seq`` keeps the order rows were first written, which is the order
the manager reads them back in (the queue's tie order). Audit entries are one row each, indexed
by job, node, client, event type and time; an entry about many jobs at once is linked to each
in ``audit_jobs``. Farm-level documents (learned speeds, energy, limits, metrics) live in
``farm_state`` by key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(256)


class Base(DeclarativeBase):
    pass


class ClientRow(Base):
    __tablename__ = "clients"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)


class NodeRow(Base):
    __tablename__ = "nodes"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    data: Mapped[str] = mapped_column(Text)


class NodeStateRow(Base):
    """A node's hot fields (status, current job, uptime) as JSON over its model's."""

    __tablename__ = "node_state"
    id: Mapped[str] = mapped_column(
        ID, ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    patch: Mapped[str | None] = mapped_column(Text, nullable=True)


class JobRecord(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str] = mapped_column(ID, index=True)
    shot_id: Mapped[str | None] = mapped_column(ID, index=True, nullable=True)
    data: Mapped[str] = mapped_column(Text)


class JobStateRow(Base):
    """What changes all the time about a job, in a narrow row of its own."""

    __tablename__ = "job_state"
    id: Mapped[str] = mapped_column(ID, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    queue_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    patch: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditRow(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    timestamp: Mapped[datetime] = mapped_column(DateTime, index=True)
    event_type: Mapped[str] = mapped_column(ID, index=True)
    job_id: Mapped[str | None] = mapped_column(ID, index=True, nullable=True)
    node_id: Mapped[str | None] = mapped_column(ID, index=True, nullable=True)
    client_id: Mapped[str | None] = mapped_column(ID, index=True, nullable=True)
    data: Mapped[str] = mapped_column(Text)


class AuditJobRow(Base):
    __tablename__ = "audit_jobs"
    audit_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("audit.id", ondelete="CASCADE"),
        primary_key=True,
    )
    job_id: Mapped[str] = mapped_column(ID, primary_key=True)
    __table_args__ = (Index("ix_audit_jobs_job_id", "job_id"),)


class FarmStateRow(Base):
    __tablename__ = "farm_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
