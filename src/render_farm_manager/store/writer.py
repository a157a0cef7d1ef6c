"""Write-through: after each committed change, the rows and documents it touched go to the
store in one transaction of the store's.

The change path's transaction keeps the models it wrote and the mapping keys it set or popped;
from those this module works out which clients, nodes and jobs to upsert or delete, which
per-job memory (blocklist counts, previews) to rewrite, and which farm-level documents changed.
Audit entries are those the change path saw written while the change committed (with the
default audit logger: every entry, also those components write directly, and those written
between changes), so the trail in the store is the whole trail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from render_farm_manager.core.models import (
    FarmModel,
    RenderClient,
    RenderJob,
    RenderNode,
    RenderTask,
)
from render_farm_manager.core.transaction import Transaction
from render_farm_manager.store import farm_state
from render_farm_manager.store.base import ChangeSet, JobRow, ModelRow, Store

if TYPE_CHECKING:
    from render_farm_manager.core.manager import RenderFarmManager


def job_row(job: RenderJob, extra: str | None) -> JobRow:
    task = isinstance(job, RenderTask)
    return JobRow(
        id=job.id,
        kind="task" if task else "job",
        client_id=job.client_id,
        status=str(job.status.value if hasattr(job.status, "value") else job.status),
        shot_id=job.job_id if isinstance(job, RenderTask) else None,
        data=job.model_dump_json(),
        extra=extra,
    )


def node_row(node: RenderNode) -> ModelRow:
    return ModelRow(id=node.id, kind="node", data=node.model_dump_json())


def client_row(client: FarmModel) -> ModelRow:
    kind = "render_client" if isinstance(client, RenderClient) else "client"
    return ModelRow(id=client.id, kind=kind, data=client.model_dump_json())  # type: ignore[attr-defined]


class WriteThrough:
    """The change path's ``persist`` hook for one manager and one store."""

    def __init__(self, manager: RenderFarmManager, store: Store) -> None:
        self.manager = manager
        self.store = store
        path = self.path = manager._path
        self._extra_maps = {
            id(manager._placement.failures_on_node),
            id(manager._shots.previews),
            id(manager._shots.observed),
            id(manager._jobs.progress_at_start),
        }
        self._tables: dict[int, str] = {
            id(path.jobs): "jobs",
            id(path.nodes): "nodes",
            id(path.clients): "clients",
            id(path.limits): "limits",
        }
        self._metrics_model = manager._metrics.metrics
        self._written: dict[str, str | None] = self.current_docs()
        speeds = getattr(manager.node_specializer, "speeds", None)
        self._speeds = speeds
        self._speeds_version = speeds.version if speeds is not None else 0
        self.writes = 0

    def current_docs(self) -> dict[str, str | None]:
        """The farm-level documents that are cheap to compare at every change."""
        manager = self.manager
        return {
            farm_state.ENERGY: farm_state.energy_doc(manager),
            farm_state.TARIFF: farm_state.tariff_doc(manager),
            farm_state.SETTINGS: farm_state.settings_doc(manager),
        }

    def everything(self) -> ChangeSet:
        """The whole state as one change set (for a store that is new)."""
        manager, path = self.manager, self.path
        changes = ChangeSet(
            clients=[client_row(c) for c in path.clients.values()],
            nodes=[node_row(n) for n in path.nodes.values()],
            jobs=[job_row(j, farm_state.job_extra(manager, j.id)) for j in path.jobs.values()],
        )
        changes.state[farm_state.LIMITS] = farm_state.limits_doc(manager)
        changes.state[farm_state.METRICS] = farm_state.metrics_doc(manager)
        speeds = farm_state.speeds_doc(manager)
        if speeds is not None:
            changes.state[farm_state.SPEEDS] = speeds
        for key, doc in self.current_docs().items():
            if doc is not None:
                changes.state[key] = doc
        changes.audit = list(getattr(manager.audit_logger, "entries", []))
        path._stray.clear()  # those are among the entries written here
        return changes

    def __call__(self, tx: Transaction) -> None:
        manager, path = self.manager, self.path
        jobs: dict[str, None] = {}
        nodes: dict[str, None] = {}
        clients: dict[str, None] = {}
        docs: set[str] = set()
        tables, extra_maps = self._tables, self._extra_maps
        for mapping, key in tx.keys:
            table = tables.get(id(mapping))
            if table == "jobs" or (table is None and id(mapping) in extra_maps):
                jobs[key] = None
            elif table == "nodes":
                nodes[key] = None
            elif table == "clients":
                clients[key] = None
            elif table == "limits":
                docs.add(farm_state.LIMITS)
        for model in tx.touched.values():
            owner: Any = path.owner_of(model)
            if owner is None:
                if model is self._metrics_model:
                    docs.add(farm_state.METRICS)
                continue
            if isinstance(owner, RenderJob):
                jobs[owner.id] = None
            elif isinstance(owner, RenderNode):
                nodes[owner.id] = None
            else:
                clients[owner.id] = None
        changes = ChangeSet()
        for job_id in jobs:
            job = path.jobs.get(job_id)
            if job is None:
                changes.deleted_jobs.append(job_id)
            else:
                changes.jobs.append(job_row(job, farm_state.job_extra(manager, job_id)))
        for node_id in nodes:
            node = path.nodes.get(node_id)
            if node is None:
                changes.deleted_nodes.append(node_id)
            else:
                changes.nodes.append(node_row(node))
        for client_id in clients:
            client = path.clients.get(client_id)
            if client is None:
                changes.deleted_clients.append(client_id)
            else:
                changes.clients.append(client_row(client))
        if farm_state.LIMITS in docs:
            changes.state[farm_state.LIMITS] = farm_state.limits_doc(manager)
        if farm_state.METRICS in docs:
            changes.state[farm_state.METRICS] = farm_state.metrics_doc(manager)
        if not (jobs or nodes or clients or docs or tx.changed or tx.logged):
            return
        speeds = self._speeds
        if speeds is not None and speeds.version != self._speeds_version:
            changes.state[farm_state.SPEEDS] = farm_state.speeds_doc(manager) or "{}"
        current = self.current_docs()
        for key, doc in current.items():
            if doc is not None and doc != self._written.get(key):
                changes.state[key] = doc
        changes.audit = list(tx.logged)
        if not changes:
            return
        self.store.write(changes)
        self.writes += 1
        self._written = current
        if speeds is not None:
            self._speeds_version = speeds.version
