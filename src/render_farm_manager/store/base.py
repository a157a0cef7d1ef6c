"""The store interface: what the manager writes after each committed change and reads back when
it opens.

The manager keeps its state in memory and writes every committed change set through to a
store in one transaction of the store's (:meth:`Store.write`). Rows carry the models as JSON, so
a store holds exactly what the models validate; the indexes the scheduler reads are rebuilt from
them when the manager opens (:mod:`render_farm_manager.store.restore`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from render_farm_manager.core.audit_api import AuditFilter
    from render_farm_manager.core.models import AuditLogEntry


@dataclass(frozen=True)
class JobRow:
    id: str
    kind: str
    """``job`` (a RenderJob, shots included) or ``task`` (a RenderTask of a shot)."""
    client_id: str
    status: str
    shot_id: str | None
    data: str
    """The model as JSON."""
    extra: str | None = None
    """What the manager remembers about the job beside its model (blocklist counts,
    previews, observed times, its place in the queue), as JSON."""
    patch: str | None = None
    """Fields that changed since ``data`` was written, as JSON over it (read back only)."""
    queue_seq: int | None = None
    """Its place among equals in the ready queue (None: not queued)."""


@dataclass(frozen=True)
class ModelRow:
    id: str
    kind: str
    data: str
    patch: str | None = None


@dataclass(frozen=True)
class JobPatch:
    """A job whose changes are all among the hot fields: its status and place in the queue,
    and, unless ``light`` (only those changed), its other hot fields and its extra."""

    id: str
    status: str
    queue_seq: int | None
    patch: str | None = None
    extra: str | None = None
    light: bool = False


@dataclass(frozen=True)
class NodePatch:
    id: str
    patch: str


def merged(data: str, patch: str | None) -> str | dict[str, Any]:
    """A row's model: ``data`` with ``patch`` over it (JSON text when there is no patch)."""
    if patch is None:
        return data
    fields: dict[str, Any] = json.loads(data)
    fields.update(json.loads(patch))
    return fields


@dataclass
class ChangeSet:
    """What one committed change wrote: rows to upsert, ids to delete, audit entries, and the
    farm-level state documents that changed."""

    jobs: list[JobRow] = field(default_factory=list)
    job_patches: list[JobPatch] = field(default_factory=list)
    nodes: list[ModelRow] = field(default_factory=list)
    node_patches: list[NodePatch] = field(default_factory=list)
    clients: list[ModelRow] = field(default_factory=list)
    deleted_jobs: list[str] = field(default_factory=list)
    deleted_nodes: list[str] = field(default_factory=list)
    deleted_clients: list[str] = field(default_factory=list)
    audit: list[AuditLogEntry] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)
    """Key → JSON document (learned speeds, energy accounting, limits, metrics ...)."""

    def __bool__(self) -> bool:
        return bool(
            self.jobs
            or self.job_patches
            or self.node_patches
            or self.nodes
            or self.clients
            or self.deleted_jobs
            or self.deleted_nodes
            or self.deleted_clients
            or self.audit
            or self.state
        )


@dataclass
class Snapshot:
    """Everything a store holds, in the order the rows were first written."""

    clients: list[ModelRow] = field(default_factory=list)
    nodes: list[ModelRow] = field(default_factory=list)
    jobs: list[JobRow] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)


class Store(ABC):
    """Where a manager's committed state lives. Raises
    :class:`~render_farm_manager.core.errors.StoreError`, never a driver's error."""

    url: str = "memory"

    @abstractmethod
    def load(self) -> Snapshot:
        """Everything committed."""

    @abstractmethod
    def write(self, changes: ChangeSet) -> None:
        """Apply one change set in one transaction: all of it is committed, or none."""

    def write_many(self, batch: list[ChangeSet]) -> None:
        """Apply several change sets, in order; a store that can commits them together (one
        transaction: all or none)."""
        for changes in batch:
            self.write(changes)

    @abstractmethod
    def audit_entries(self, wanted: AuditFilter, limit: int, offset: int) -> list[AuditLogEntry]:
        """Audit entries matching ``wanted``, oldest first."""

    def audit_count(self) -> int:
        """How many audit entries the store holds."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional for stores that hold nothing open
        """Release connections (and the leadership, if held)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
