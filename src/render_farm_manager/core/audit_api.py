"""The part of the manager's API for what happened: audit queries and change listeners. Mixed
into :class:`~render_farm_manager.core.manager.RenderFarmManager`.

With a store (see :mod:`render_farm_manager.store`), queries read what the store committed, so
they see the whole history, also from before a restart; without one, the audit logger's memory.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.models import AuditLogEntry
from render_farm_manager.core.validation import identifier, whole_number

if TYPE_CHECKING:
    from render_farm_manager.core.change_path import ChangePath
    from render_farm_manager.core.interfaces import AuditLoggerInterface

MAX_AUDIT_PAGE = 10_000
ChangeListener = Callable[[list[AuditLogEntry]], None]


class AuditFilter:
    """Which audit entries a query wants (each criterion optional; all must hold)."""

    def __init__(
        self,
        *,
        job_id: str | None = None,
        node_id: str | None = None,
        client_id: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        self.job_id = None if job_id is None else identifier(job_id, "job_id")
        self.node_id = None if node_id is None else identifier(node_id, "node_id")
        self.client_id = None if client_id is None else identifier(client_id, "client_id")
        self.event_type = None if event_type is None else identifier(event_type, "event_type")
        for name, value in (("since", since), ("until", until)):
            if value is not None and not isinstance(value, datetime):
                raise InvalidInputError(
                    f"{name} must be a datetime, got {type(value).__name__}", field=name
                )
        self.since = since
        self.until = until

    def matches(self, entry: AuditLogEntry) -> bool:
        if (
            self.job_id is not None
            and entry.job_id != self.job_id
            and self.job_id not in entry.details.get("job_ids", ())
        ):
            return False
        if self.node_id is not None and entry.node_id != self.node_id:
            return False
        if self.client_id is not None and entry.client_id != self.client_id:
            return False
        if self.event_type is not None and entry.event_type != self.event_type:
            return False
        if self.since is not None and entry.timestamp < self.since:
            return False
        return self.until is None or entry.timestamp <= self.until

    def candidates(self, logger: AuditLoggerInterface) -> list[AuditLogEntry]:
        """The entries of ``logger`` to filter, narrowed by its indexes where it has them."""
        for key, lookup in (
            (self.job_id, "get_job_history"),
            (self.node_id, "get_node_history"),
            (self.client_id, "get_client_history"),
            (self.event_type, "get_logs_by_event_type"),
        ):
            if key is not None and hasattr(logger, lookup):
                found: list[AuditLogEntry] = getattr(logger, lookup)(key)
                return found
        entries: list[AuditLogEntry] = getattr(logger, "entries", [])
        return list(entries)


def page(limit: int, offset: int) -> tuple[int, int]:
    return (
        whole_number(limit, "limit", minimum=1, maximum=MAX_AUDIT_PAGE),
        whole_number(offset, "offset", minimum=0),
    )


class AuditAPI:
    _path: ChangePath
    audit_logger: AuditLoggerInterface

    def audit_entries(
        self,
        *,
        job_id: str | None = None,
        node_id: str | None = None,
        client_id: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditLogEntry]:
        """Audit entries matching every criterion given, oldest first, ``limit`` of them from
        ``offset`` (at most 10,000 per call). ``job_id`` also finds batch entries that name
        the job among others."""
        wanted = AuditFilter(
            job_id=job_id,
            node_id=node_id,
            client_id=client_id,
            event_type=event_type,
            since=since,
            until=until,
        )
        limit, offset = page(limit, offset)
        store = self._path.store
        if store is not None:
            return store.audit_entries(wanted, limit, offset)
        with self._path.lock:
            found = [e for e in wanted.candidates(self.audit_logger) if wanted.matches(e)]
        return found[offset : offset + limit]

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener`` after every committed change with the audit entries it wrote (in
        order; possibly none). It runs on the thread that made the change, under the manager's
        lock, so it must be quick (hand the entries to a queue); an exception it raises is
        logged and does not undo the change."""
        if not callable(listener):
            raise InvalidInputError(
                f"listener must be callable, got {type(listener).__name__}", field="listener"
            )
        with self._path.lock:
            self._path.listeners.append(listener)

    def remove_change_listener(self, listener: ChangeListener) -> bool:
        with self._path.lock:
            if listener in self._path.listeners:
                self._path.listeners.remove(listener)
                return True
            return False
