"""The store interface: what the manager writes after each committed change and reads back when
it opens.

The manager keeps its state in memory and writes every committed change set through to a
store in one transaction of the store's (:meth:`Store.write`). Rows carry the models as JSON, so
a store holds exactly what the models validate; the indexes the scheduler reads are rebuilt from
them when the manager opens (:mod:`render_farm_manager.store.restore`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from render_farm_manager.core.audit_api import AuditFilter
    from render_farm_manager.core.models import AuditLogEntry

JOB_KINDS = ("job", "task")
CLIENT_KINDS = ("client", "render_client")


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
    """What the manager remembers about the job beside the model (blocklist counts,
    previews, observed times), as JSON."""


@dataclass(frozen=True)
class ModelRow:
    id: str
    kind: str
    data: str


@dataclass
class ChangeSet:
    """What one committed change wrote: rows to upsert, ids to delete, audit entries, and the
    farm-level state documents that changed."""

    jobs: list[JobRow] = field(default_factory=list)
    nodes: list[ModelRow] = field(default_factory=list)
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
