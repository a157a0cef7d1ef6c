"""Edits of the models the manager holds, seen as the manager methods they stand for.

``job.status = "cancelled"`` cancels the job as ``cancel_job`` would; ``node.current_job_id =
"j"`` starts ``j`` on the node; ``client.max_resources = 60`` changes the ceiling the next cycle
enforces. Each edit runs as one change of the change path: checked, applied, audited and indexed,
or refused with the documented error and nothing changed. Fields that carry no state of their own
(a name, an output path) are written and audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from render_farm_manager.core.errors import (
    InvalidInputError,
    NodeUnavailableError,
    UnknownClientError,
)
from render_farm_manager.core.job_changes import JobChanges
from render_farm_manager.core.lifecycle import check_transition
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    WAITING_STATUSES,
    Client,
    FarmModel,
    NodeCapabilities,
    NodeStatus,
    RenderClient,
    RenderJob,
    RenderJobStatus,
    RenderNode,
)
from render_farm_manager.core.node_changes import ClientChanges, NodeChanges

S = RenderJobStatus
ChooseNode = Callable[[RenderJob], RenderNode | None]

_JOB_PLACEMENT_FIELDS = frozenset(
    {"deadline", "estimated_duration_hours", "job_type", "requires_gpu"}
    | {"memory_requirements_gb", "cpu_requirements"}
)
"""Fields whose change may make the job's deadline (in)feasible or the job (un)placeable."""


class EditRouter:
    def __init__(
        self,
        jobs: JobChanges,
        nodes: NodeChanges,
        clients: ClientChanges,
        choose_node: ChooseNode,
        speeds_edited: Callable[[RenderNode], None],
    ) -> None:
        self.jobs = jobs
        self.nodes = nodes
        self.clients = clients
        self.choose_node = choose_node
        self.speeds_edited = speeds_edited
        self.path = jobs.path

    def __call__(self, model: FarmModel, name: str, value: Any) -> None:
        if isinstance(model, RenderJob):
            self.job(model, name, value)
        elif isinstance(model, RenderNode):
            self.node(model, name, value)
        elif isinstance(model, NodeCapabilities):
            self.capabilities(model, name, value)
        elif isinstance(model, Client | RenderClient):
            self.client(model, name, value)
        else:  # pragma: no cover - the path holds only these
            raise InvalidInputError(f"{type(model).__name__} is not managed", field=name)

    # -- jobs ----------------------------------------------------------------------------------

    def job(self, job: RenderJob, name: str, value: Any) -> None:
        jobs = self.jobs
        if name == "id":
            _refuse_id_change("job", job.id)
        elif name == "status":
            self.job_status(job, RenderJobStatus(value))
        elif name == "priority":
            jobs.set_priority(job, value, reason="edited")
        elif name == "progress":
            jobs.set_progress(job, value)
        elif name == "assigned_node_id":
            self.job_node(job, value)
        elif name == "dependencies":
            jobs.set_dependencies(job, value)
        else:
            if name == "client_id" and value not in self.path.clients:
                raise UnknownClientError(value)
            self._write_job_field(job, name, value)

    def _write_job_field(self, job: RenderJob, name: str, value: Any) -> None:
        path = self.path
        old = getattr(job, name)
        if old == value:
            return
        path.write(job, name, value)
        if job.is_shot and self.jobs.shots is not None:
            self.jobs.shots.copy_field(job, name, value)
        if job.status not in FINISHED_STATUSES:
            path.reindex(job)
            if name in _JOB_PLACEMENT_FIELDS and job.status in WAITING_STATUSES:
                if job.is_shot and self.jobs.shots is not None:
                    self.jobs.shots.check_feasibility(job)
                else:
                    self.jobs.placement.check_feasibility(job, path.now())
        path.log(
            "log_event",
            "job_field_changed",
            f"Job {job.id} {name} changed from {old!r} to {value!r}",
            job_id=job.id,
            client_id=job.client_id,
            field=name,
            old_value=_plain(old),
            new_value=_plain(value),
        )

    def job_status(self, job: RenderJob, status: RenderJobStatus) -> None:
        current = RenderJobStatus(job.status)
        jobs = self.jobs
        if status == current:
            return
        check_transition(job.id, current, status)
        if status == S.CANCELLED:
            jobs.cancel(job)
        elif status == S.COMPLETED:
            jobs.complete(job)
        elif status == S.FAILED:
            jobs.fail(job, "set to failed by an operator")
        elif status == S.PAUSED:
            jobs.pause(job)
        elif status == S.RUNNING:
            node = self.choose_node(job)
            if node is None:
                raise NodeUnavailableError(
                    job.id,
                    "(none)",
                    "no free online node fits it now; choose one by setting "
                    "job.assigned_node_id or node.current_job_id",
                )
            jobs.start(job, node, "started by an operator")
        elif current == S.PAUSED:
            jobs.resume(job)
        elif current == S.FAILED:
            jobs.retry(job)
        elif current == S.RUNNING:
            jobs.requeue(job, "returned to the queue by an operator", keep_progress=True)
        else:  # pending <-> queued: both wait; only the label changes
            self.path.move([job], status, "edited")

    def job_node(self, job: RenderJob, node_id: str | None) -> None:
        if node_id == job.assigned_node_id:
            return
        if node_id is None:
            if job.status == S.RUNNING:
                self.jobs.requeue(job, "taken off its node by an operator", keep_progress=True)
            else:
                self._write_job_field(job, "assigned_node_id", None)
            return
        node = self.path.nodes.get(node_id)
        if node is None:
            raise NodeUnavailableError(job.id, node_id, "no such node is registered")
        self.nodes.move_job(job, node)  # whether the node can take it: JobChanges.start

    # -- nodes ---------------------------------------------------------------------------------

    def node(self, node: RenderNode, name: str, value: Any) -> None:
        nodes, path = self.nodes, self.path
        if name == "id":
            _refuse_id_change("node", node.id)
        elif name == "status":
            status = NodeStatus(value)
            if status != node.status:
                nodes.set_status(node, status, "edited")
        elif name == "current_job_id":
            nodes.put_job(node, value)
        elif name == "draining":
            if value:
                nodes.drain(node)
            else:
                nodes.stop_draining(node)
        else:
            old = getattr(node, name)
            path.write(node, name, value)
            if name == "capabilities":
                path.hold_part(node, value, old)
            if name == "performance_history":
                path.tx.after_commit(lambda: self.speeds_edited(node))
            self._node_edited(node, name, old, value)

    def capabilities(self, caps: NodeCapabilities, name: str, value: Any) -> None:
        node = self.path.owner_of(caps)
        assert isinstance(node, RenderNode)
        old = getattr(caps, name)
        self.path.write(caps, name, value)
        self._node_edited(node, f"capabilities.{name}", old, value)

    def _node_edited(self, node: RenderNode, name: str, old: Any, value: Any) -> None:
        self.path.nodes_changed()
        self.nodes.failures.placement.nodes_changed()
        self.path.log(
            "log_event",
            "node_field_changed",
            f"Node {node.id} {name} changed",
            node_id=node.id,
            field=name,
            old_value=_plain(old),
            new_value=_plain(value),
        )

    # -- clients -------------------------------------------------------------------------------

    def client(self, client: Client | RenderClient, name: str, value: Any) -> None:
        if name in ("id", "client_id"):
            _refuse_id_change("client", client.id)
        elif name in ("sla_tier", "service_tier"):
            self.clients.set_tier(client, value)
        elif name in ("guaranteed_resources", "max_resources"):
            self.clients.set_limit(client, name, value)
        else:
            self.path.write(client, name, value)
            self.path.log(
                "log_event",
                "client_field_changed",
                f"Client {client.id} {name} changed",
                client_id=client.id,
                field=name,
                new_value=_plain(value),
            )


def _refuse_id_change(kind: str, object_id: str) -> None:
    raise InvalidInputError(
        f"the id of {kind} {object_id!r} cannot change while the manager holds it; "
        f"remove the {kind} and add it again under the new id",
        field="id",
        object_id=object_id,
    )


def _plain(value: Any) -> Any:
    """A value as it goes into an audit entry's details."""
    if isinstance(value, FarmModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | dict | str | int | float | bool) or value is None:
        return value
    return str(value)
