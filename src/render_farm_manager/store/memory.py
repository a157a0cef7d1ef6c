"""A store in memory: rows as the SQL store would hold them, for tests of what a manager
reloads (and for users who want the write-through path without a database)."""

from __future__ import annotations

import threading
from dataclasses import replace

from render_farm_manager.core.audit_api import AuditFilter
from render_farm_manager.core.models import AuditLogEntry
from render_farm_manager.store.base import ChangeSet, JobRow, ModelRow, Snapshot, Store


class MemoryStore(Store):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clients: dict[str, ModelRow] = {}
        self.nodes: dict[str, ModelRow] = {}
        self.jobs: dict[str, JobRow] = {}
        self.state: dict[str, str] = {}
        self.audit: list[str] = []
        self.writes = 0

    def load(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                clients=list(self.clients.values()),
                nodes=list(self.nodes.values()),
                jobs=list(self.jobs.values()),
                state=dict(self.state),
            )

    def write(self, changes: ChangeSet) -> None:
        with self._lock:
            for table, rows, deleted in (
                (self.clients, changes.clients, changes.deleted_clients),
                (self.nodes, changes.nodes, changes.deleted_nodes),
            ):
                for row in rows:
                    table[row.id] = row
                for row_id in deleted:
                    table.pop(row_id, None)
            for job in changes.jobs:
                self.jobs[job.id] = job
            for patch in changes.job_patches:
                old = self.jobs[patch.id]
                if patch.light:
                    self.jobs[patch.id] = replace(
                        old, status=patch.status, queue_seq=patch.queue_seq
                    )
                else:
                    self.jobs[patch.id] = replace(
                        old,
                        status=patch.status,
                        queue_seq=patch.queue_seq,
                        patch=patch.patch,
                        extra=patch.extra,
                    )
            for node_patch in changes.node_patches:
                self.nodes[node_patch.id] = replace(
                    self.nodes[node_patch.id], patch=node_patch.patch
                )
            for job_id in changes.deleted_jobs:
                self.jobs.pop(job_id, None)
            self.state.update(changes.state)
            self.audit.extend(entry.model_dump_json() for entry in changes.audit)
            self.writes += 1

    def audit_entries(self, wanted: AuditFilter, limit: int, offset: int) -> list[AuditLogEntry]:
        with self._lock:
            texts = list(self.audit)
        found = [e for e in map(AuditLogEntry.model_validate_json, texts) if wanted.matches(e)]
        return found[offset : offset + limit]

    def audit_count(self) -> int:
        return len(self.audit)
