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

import gc
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
from render_farm_manager.store.base import (
    ChangeSet,
    JobPatch,
    JobRow,
    ModelRow,
    NodePatch,
    Store,
)
from render_farm_manager.store.committer import Committer, Ticket

if TYPE_CHECKING:
    from render_farm_manager.core.manager import RenderFarmManager


HOT_JOB_FIELDS = frozenset(
    {
        "status",
        "progress",
        "priority",
        "assigned_node_id",
        "error_count",
        "last_checkpoint_time",
        "last_progressive_output_time",
        "started_at",
        "progress_reported_at",
        "completed_at",
        "deadline_feasible",
        "blocked_reason",
        "failure_reason",
        "placement_warning",
        "excluded_node_ids",
    }
)
"""Job fields that change all the time: a change of only these is written as a patch."""
HOT_TASK_FIELDS = HOT_JOB_FIELDS | {"frames_done"}
HOT_NODE_FIELDS = frozenset({"status", "current_job_id", "uptime_hours", "last_error", "draining"})


def _status(job: RenderJob) -> str:
    return str(job.status.value if hasattr(job.status, "value") else job.status)


_PATCHED_JOB = HOT_JOB_FIELDS - {"status"}
_PATCHED_TASK = HOT_TASK_FIELDS - {"status"}
_PATCHED_NODE = set(HOT_NODE_FIELDS)
_STATUS_ONLY = {"status"}
LIGHT, HOT, WHOLE = 0, 1, 2
"""How much of a job a change touched: its status and place in the queue only; also other hot
fields or what the manager remembers about it; anything else."""


def job_patch(job: RenderJob, extra: str | None, queue_seq: int | None) -> JobPatch:
    patched: Any = _PATCHED_TASK if isinstance(job, RenderTask) else _PATCHED_JOB
    return JobPatch(job.id, _status(job), queue_seq, job.model_dump_json(include=patched), extra)


def node_patch(node: RenderNode) -> NodePatch:
    return NodePatch(node.id, node.model_dump_json(include=_PATCHED_NODE))


def job_row(job: RenderJob, extra: str | None, queue_seq: int | None = None) -> JobRow:
    task = isinstance(job, RenderTask)
    return JobRow(
        id=job.id,
        kind="task" if task else "job",
        client_id=job.client_id,
        status=_status(job),
        shot_id=job.job_id if isinstance(job, RenderTask) else None,
        data=job.model_dump_json(),
        extra=extra,
        queue_seq=queue_seq,
    )


def node_row(node: RenderNode) -> ModelRow:
    return ModelRow(id=node.id, kind="node", data=node.model_dump_json())


def client_row(client: FarmModel) -> ModelRow:
    kind = "render_client" if isinstance(client, RenderClient) else "client"
    return ModelRow(id=client.id, kind=kind, data=client.model_dump_json())  # type: ignore[attr-defined]


def _place(path: Any, job_id: str) -> int | None:
    place: int = path.index.queue.sequence_of(job_id)
    return place if place >= 0 else None


class WriteThrough:
    """The change path's ``persist`` hook for one manager and one store."""

    def __init__(
        self, manager: RenderFarmManager, store: Store, committer: Committer | None = None
    ) -> None:
        """With a ``committer``, change sets are committed by its thread, several at once
        (the caller waits for its ticket); without, each is written here and now."""
        self.manager = manager
        self.store = store
        self.committer = committer
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
        self._known_jobs: set[str] = set(path.jobs)
        """Jobs the store has a row of (a patch needs one)."""
        self._written: dict[str, str | None] = self.current_docs()
        speeds = getattr(manager.node_specializer, "speeds", None)
        self._speeds = speeds
        self._speeds_version = speeds.version if speeds is not None else 0

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
            jobs=[
                job_row(j, farm_state.job_extra(manager, j.id), _place(path, j.id))
                for j in path.jobs.values()
            ],
        )
        changes.state[farm_state.LIMITS] = farm_state.limits_doc(manager)
        changes.state[farm_state.METRICS] = farm_state.metrics_doc(manager)
        changes.state[farm_state.WARM] = farm_state.warm_doc(manager)
        speeds = farm_state.speeds_doc(manager)
        if speeds is not None:
            changes.state[farm_state.SPEEDS] = speeds
        for key, doc in self.current_docs().items():
            if doc is not None:
                changes.state[key] = doc
        changes.audit = list(getattr(manager.audit_logger, "entries", []))
        path._stray.clear()  # those are among the entries written here
        return changes

    def __call__(self, tx: Transaction) -> Ticket | None:
        # The rows are thousands of short-lived tuples and strings: a collection of the old
        # generation in the middle (the farm's models are millions of objects) would cost more
        # than the write itself. Collection resumes when the rows are written.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._write(tx)
        finally:
            if paused:
                gc.enable()

    def _write(self, tx: Transaction) -> Ticket | None:
        manager, path = self.manager, self.path
        jobs: dict[str, int] = {}
        """Job id → how much of it to write (LIGHT, HOT, WHOLE)."""
        nodes: dict[str, bool] = {}
        clients: dict[str, None] = {}
        docs: set[str] = set()
        tables, extra_maps, queue = self._tables, self._extra_maps, path.index.queue
        warm = manager._cycle.warm
        for mapping, key in tx.keys:
            table = tables.get(id(mapping))
            if mapping is queue:
                jobs.setdefault(key, LIGHT)
            elif table == "jobs" or (table is None and id(mapping) in extra_maps):
                # new (written whole below), removed, or what the manager remembers changed
                jobs[key] = max(jobs.get(key, HOT), HOT)
            elif table == "nodes":
                nodes[key] = True
            elif table == "clients":
                clients[key] = None
            elif table == "limits":
                docs.add(farm_state.LIMITS)
            elif mapping is warm:
                docs.add(farm_state.WARM)
        for model, names in tx.touched.values():
            owner: Any = path.owner_of(model)
            if owner is None:
                if model is self._metrics_model:
                    docs.add(farm_state.METRICS)
                continue
            if isinstance(owner, RenderJob):
                hot = HOT_TASK_FIELDS if isinstance(owner, RenderTask) else HOT_JOB_FIELDS
                if owner is not model or not names <= hot:
                    level = WHOLE
                else:
                    level = LIGHT if names == _STATUS_ONLY else HOT
                jobs[owner.id] = max(jobs.get(owner.id, LIGHT), level)
            elif isinstance(owner, RenderNode):
                whole = owner is not model or not names <= HOT_NODE_FIELDS
                nodes[owner.id] = nodes.get(owner.id, False) or whole
            else:
                clients[owner.id] = None
        if not (jobs or nodes or clients or docs or tx.changed or tx.logged):
            return None
        changes = ChangeSet()
        known = self._known_jobs
        sequence_of = queue.sequence_of
        for job_id, level in jobs.items():
            job = path.jobs.get(job_id)
            if job is None:
                if job_id in known:
                    changes.deleted_jobs.append(job_id)
                continue
            place = sequence_of(job_id)
            queue_seq = place if place >= 0 else None
            if level == WHOLE or job_id not in known:
                extra = farm_state.job_extra(manager, job_id)
                changes.jobs.append(job_row(job, extra, queue_seq))
            elif level == HOT:
                extra = farm_state.job_extra(manager, job_id)
                changes.job_patches.append(job_patch(job, extra, queue_seq))
            else:
                changes.job_patches.append(JobPatch(job_id, _status(job), queue_seq, light=True))
        for node_id, whole in nodes.items():
            node = path.nodes.get(node_id)
            if node is None:
                changes.deleted_nodes.append(node_id)
            elif whole:
                changes.nodes.append(node_row(node))
            else:
                changes.node_patches.append(node_patch(node))
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
        if farm_state.WARM in docs:
            changes.state[farm_state.WARM] = farm_state.warm_doc(manager)
        speeds = self._speeds
        if speeds is not None and speeds.version != self._speeds_version:
            changes.state[farm_state.SPEEDS] = farm_state.speeds_doc(manager) or "{}"
        current = self.current_docs()
        for key, doc in current.items():
            if doc is not None and doc != self._written.get(key):
                changes.state[key] = doc
        changes.audit = list(tx.logged)
        if not changes:
            return None
        ticket = None
        if self.committer is not None:
            ticket = self.committer.submit(changes)
        else:
            self.store.write(changes)
        for row in changes.jobs:
            known.add(row.id)
        known.difference_update(changes.deleted_jobs)
        self._written = current
        if speeds is not None:
            self._speeds_version = speeds.version
        return ticket
