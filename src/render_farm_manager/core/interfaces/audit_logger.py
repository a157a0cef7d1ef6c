"""The audit logger's interface; its typed helpers are written once here, on ``log_event``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from render_farm_manager.core.models import AuditLogEntry


class AuditLoggerInterface(ABC):
    """The audit trail: one entry per event, queryable by job, node, client, type and time."""

    @abstractmethod
    def log_event(self, event_type: str, description: str, **details: Any) -> AuditLogEntry:
        """Record one event; ``job_id``, ``node_id``, ``client_id`` and ``log_level`` in
        ``details`` are recognised."""

    @abstractmethod
    def get_job_history(self, job_id: str) -> list[AuditLogEntry]: ...

    @abstractmethod
    def get_node_history(self, node_id: str) -> list[AuditLogEntry]: ...

    @abstractmethod
    def get_client_history(self, client_id: str) -> list[AuditLogEntry]: ...

    @abstractmethod
    def get_logs_by_time_range(
        self, start_time: datetime, end_time: datetime
    ) -> list[AuditLogEntry]: ...

    @abstractmethod
    def get_logs_by_event_type(self, event_type: str) -> list[AuditLogEntry]: ...

    def use_clock(self, clock: Any) -> None:  # noqa: B027 - optional hook
        """Take timestamps from ``clock`` (a callable returning a datetime) from now on."""

    def log_batch_event(
        self, event_type: str, description: str, job_ids: list[str], **details: Any
    ) -> AuditLogEntry:
        """One entry for the same change to many jobs."""
        return self.log_event(event_type, description, job_ids=list(job_ids), **details)

    def log_client_added(
        self, client_id: str, name: str, sla_tier: str, **details: Any
    ) -> AuditLogEntry:
        return self.log_event(
            "client_added",
            f"Client {name} ({client_id}) added with {sla_tier} tier",
            client_id=client_id,
            name=name,
            sla_tier=str(sla_tier),
            **details,
        )

    def log_client_updated(
        self, client_id: str, name: str, old_tier: str, new_tier: str, **details: Any
    ) -> AuditLogEntry:
        return self.log_event(
            "client_updated",
            f"Client {name} ({client_id}) tier changed from {old_tier} to {new_tier}",
            client_id=client_id,
            old_tier=str(old_tier),
            new_tier=str(new_tier),
            **details,
        )

    def log_node_added(
        self, node_id: str, name: str, status: str, capabilities: Any = None, **details: Any
    ) -> AuditLogEntry:
        caps = capabilities.model_dump() if hasattr(capabilities, "model_dump") else capabilities
        return self.log_event(
            "node_added",
            f"Node {name} ({node_id}) added with status {status}",
            node_id=node_id,
            status=str(status),
            capabilities=caps,
            **details,
        )

    def log_node_updated(
        self, node_id: str, name: str, old_status: str, new_status: str, **details: Any
    ) -> AuditLogEntry:
        return self.log_event(
            "node_updated",
            f"Node {name} ({node_id}) status changed from {old_status} to {new_status}",
            node_id=node_id,
            old_status=str(old_status),
            new_status=str(new_status),
            **details,
        )

    def log_node_failure(self, node_id: str, error: str, **details: Any) -> AuditLogEntry:
        details.setdefault("log_level", "error")
        return self.log_event(
            "node_failure",
            f"Node {node_id} failed: {error}",
            node_id=node_id,
            error=error,
            **details,
        )

    def log_job_submitted(
        self, job_id: str, client_id: str, name: str, priority: str, **details: Any
    ) -> AuditLogEntry:
        return self.log_event(
            "job_submitted",
            f"Job {name} ({job_id}) submitted by client {client_id} with {priority} priority",
            job_id=job_id,
            client_id=client_id,
            priority=str(priority),
            **details,
        )

    def log_job_scheduled(
        self, job_id: str, node_id: str, client_id: str, priority: str, **details: Any
    ) -> AuditLogEntry:
        return self.log_event(
            "job_scheduled",
            f"Job {job_id} scheduled on node {node_id}",
            job_id=job_id,
            node_id=node_id,
            client_id=client_id,
            priority=str(priority),
            **details,
        )

    def log_job_updated(
        self,
        job_id: str,
        client_id: str,
        name: str,
        old_priority: str,
        new_priority: str,
        **details: Any,
    ) -> AuditLogEntry:
        return self.log_event(
            "job_updated",
            f"Job {name} ({job_id}) priority changed from {old_priority} to {new_priority}",
            job_id=job_id,
            client_id=client_id,
            old_priority=str(old_priority),
            new_priority=str(new_priority),
            **details,
        )

    def log_job_completed(
        self, job_id: str, client_id: str, name: str, completion_time: Any = None, **details: Any
    ) -> AuditLogEntry:
        return self.log_event(
            "job_completed",
            f"Job {name} ({job_id}) completed",
            job_id=job_id,
            client_id=client_id,
            completion_time=str(completion_time),
            **details,
        )

    def log_job_failed(
        self, job_id: str, client_id: str, name: str, reason: str = "", **details: Any
    ) -> AuditLogEntry:
        details.setdefault("log_level", "error")
        return self.log_event(
            "job_failed",
            f"Job {name} ({job_id}) failed: {reason}",
            job_id=job_id,
            client_id=client_id,
            reason=reason,
            **details,
        )

    def log_energy_mode_changed(
        self, old_mode: str, new_mode: str, **details: Any
    ) -> AuditLogEntry:
        return self.log_event(
            "energy_mode_changed",
            f"Energy mode changed from {old_mode} to {new_mode}",
            old_mode=str(old_mode),
            new_mode=str(new_mode),
            **details,
        )

    def log_scheduling_cycle(
        self, jobs_scheduled: int, utilization_percentage: float, **details: Any
    ) -> AuditLogEntry:
        return self.log_event(
            "scheduling_cycle",
            f"Scheduling cycle: {jobs_scheduled} job(s) scheduled, "
            f"{utilization_percentage:.1f}% utilization",
            jobs_scheduled=jobs_scheduled,
            utilization_percentage=utilization_percentage,
            **details,
        )

    def log_error(self, message: str, **details: Any) -> AuditLogEntry:
        details.setdefault("log_level", "error")
        return self.log_event("error", message, **details)
