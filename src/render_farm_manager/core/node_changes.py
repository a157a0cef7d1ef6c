"""Everything that can happen to a node or a client, as steps of the change path."""

from __future__ import annotations

from render_farm_manager.core.change_path import ChangePath
from render_farm_manager.core.errors import (
    ClientInUseError,
    DuplicateIdError,
    InvalidInputError,
    NodeUnavailableError,
    RenderFarmError,
)
from render_farm_manager.core.farm_metrics import FarmMetrics
from render_farm_manager.core.job_changes import JobChanges
from render_farm_manager.core.job_failures import JobFailures
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    AnyClient,
    Client,
    LogLevel,
    NodeStatus,
    RenderClient,
    RenderJob,
    RenderNode,
    ServiceTier,
)


class NodeChanges:
    def __init__(
        self, path: ChangePath, jobs: JobChanges, failures: JobFailures, metrics: FarmMetrics
    ) -> None:
        self.path = path
        self.jobs = jobs
        self.failures = failures
        self.metrics = metrics

    def add(self, node: RenderNode) -> None:
        path = self.path
        if not isinstance(node, RenderNode):
            raise InvalidInputError(
                f"add_node() takes a RenderNode, got {type(node).__name__}", field="node"
            )
        if node.id in path.nodes:
            raise DuplicateIdError("node", node.id)
        if node.current_job_id is not None:
            raise RenderFarmError(
                f"node {node.id!r} is registered with current_job_id="
                f"{node.current_job_id!r}; a new node must be free"
            )
        path.hold(node)
        path.tx.set_item(path.nodes, node.id, node)
        path.nodes_changed()
        path.log(
            "log_node_added", node.id, node.name, NodeStatus(node.status).value, node.capabilities
        )
        self.failures.placement.nodes_changed()

    def remove(self, node: RenderNode) -> None:
        path = self.path
        self.evict(node, "node removed from the farm")
        path.tx.pop_item(path.nodes, node.id)
        path.let_go(node)
        path.nodes_changed()
        path.log(
            "log_event", "node_removed", f"Node {node.name} ({node.id}) removed", node_id=node.id
        )
        self.failures.placement.nodes_changed()

    def evict(self, node: RenderNode, reason: str) -> str | None:
        """Requeue the node's job (not the job's fault: no error counted, checkpoint kept)."""
        job = self.path.index.running_by_node.get(node.id)
        if job is None:
            return None
        self.jobs.requeue(job, reason, keep_progress=True)  # type: ignore[arg-type]
        return job.id

    def set_status(self, node: RenderNode, status: NodeStatus, reason: str) -> None:
        """Any status but online takes the node's job off it (back to the queue, no error
        counted); ``error`` is a failure (see :meth:`fail`)."""
        if status == NodeStatus.ERROR:
            self.fail(node, reason)
            return
        if status != NodeStatus.ONLINE:
            self.evict(node, f"node {status.value}: {reason}")
        self.path.write(node, "draining", False)
        self._write_status(node, status, reason)

    def _write_status(self, node: RenderNode, status: NodeStatus, reason: str) -> None:
        old = NodeStatus(node.status)
        self.path.write(node, "status", status)
        self.path.nodes_changed()
        level = LogLevel.WARNING if status == NodeStatus.ERROR else LogLevel.INFO
        self.path.log(
            "log_node_updated",
            node.id,
            node.name,
            old.value,
            status.value,
            reason=reason,
            log_level=level,
        )

    def fail(self, node: RenderNode, error: str) -> list[str]:
        """The node died: it goes to ``error``; its job counts a failure (requeued, or failed at
        the error threshold). Returns the affected job ids."""
        path = self.path
        path.write(node, "last_error", error)
        path.write(node, "draining", False)
        self._write_status(node, NodeStatus.ERROR, error)
        self.metrics.node_failure()
        path.measure("update_node_failure_count", node.id)
        job = path.index.running_by_node.get(node.id)
        path.log("log_node_failure", node.id, error, job_id=job.id if job else None)
        if job is None:
            return []
        self.failures.count(job, node.id, error)  # type: ignore[arg-type]
        return [job.id]

    def drain(self, node: RenderNode) -> None:
        """Finish the current job, take no new one, then go to maintenance (at once if idle)."""
        if node.current_job_id is None:
            self.set_status(node, NodeStatus.MAINTENANCE, "maintenance")
            return
        self.path.write(node, "draining", True)
        self.path.nodes_changed()
        self.path.log(
            "log_node_updated",
            node.id,
            node.name,
            NodeStatus(node.status).value,
            "draining",
            reason="drain for maintenance",
        )

    def stop_draining(self, node: RenderNode) -> None:
        if not node.draining:
            return
        self.path.write(node, "draining", False)
        self.path.nodes_changed()
        self.path.log(
            "log_node_updated",
            node.id,
            node.name,
            "draining",
            NodeStatus(node.status).value,
            reason="drain called off",
        )

    def put_job(self, node: RenderNode, job_id: str | None) -> None:
        """``node.current_job_id = job_id``: the node's job leaves it (None), or ``job_id``
        starts on it, moving there from another node if it was running."""
        path = self.path
        current = node.current_job_id
        if job_id == current:
            return
        if job_id is None:
            self.evict(node, "taken off its node by an operator")
            return
        job = path.jobs.get(job_id)
        if job is None:
            raise NodeUnavailableError(job_id, node.id, f"no job {job_id!r} has been submitted")
        self.move_job(job, node)  # a busy node is refused by JobChanges.start

    def move_job(self, job: RenderJob, node: RenderNode) -> None:
        """Start ``job`` on ``node``; a job running elsewhere leaves its node first."""
        if job.status == "running":
            if job.assigned_node_id == node.id:
                return
            self.jobs.requeue(job, f"moved to node {node.id} by an operator", keep_progress=True)
        self.jobs.start(job, node, "placed by an operator")


class ClientChanges:
    def __init__(self, path: ChangePath) -> None:
        self.path = path

    def add(self, client: AnyClient) -> None:
        path = self.path
        if not isinstance(client, Client | RenderClient):
            raise InvalidInputError(
                f"add_client() takes a Client or RenderClient, got {type(client).__name__}",
                field="client",
            )
        if client.id in path.clients:
            raise DuplicateIdError("client", client.id)
        path.hold(client)
        path.tx.set_item(path.clients, client.id, client)
        path.log(
            "log_client_added",
            client.id,
            client.name,
            ServiceTier(client.sla_tier).value,
            guaranteed_resources=client.guaranteed_resources,
            max_resources=client.max_resources,
        )

    def remove(self, client: AnyClient) -> None:
        path = self.path
        active = sorted(
            j.id
            for j in path.jobs.values()
            if j.client_id == client.id and j.status not in FINISHED_STATUSES
        )
        if active:
            raise ClientInUseError(client.id, active)
        path.tx.pop_item(path.clients, client.id)
        path.let_go(client)
        path.log(
            "log_event",
            "client_removed",
            f"Client {client.name} ({client.id}) removed",
            client_id=client.id,
        )

    def set_tier(self, client: AnyClient, tier: ServiceTier) -> None:
        old = ServiceTier(client.sla_tier)
        field = "service_tier" if isinstance(client, RenderClient) else "sla_tier"
        self.path.write(client, field, tier)
        self.path.log("log_client_updated", client.id, client.name, old.value, tier.value)

    def set_limit(self, client: AnyClient, field: str, value: float) -> None:
        """A new guarantee or ceiling (already checked against the other by the model)."""
        old = getattr(client, field)
        self.path.write(client, field, value)
        self.path.log(
            "log_event",
            "client_updated",
            f"Client {client.name} ({client.id}) {field} changed from {old:g} to {value:g}",
            client_id=client.id,
            field=field,
            old_value=old,
            new_value=value,
        )
