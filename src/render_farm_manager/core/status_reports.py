"""The dictionaries behind ``get_job_status``, ``get_client_status`` and ``get_farm_status``."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.clock import hours_between
from render_farm_manager.core.models import (
    AnyClient,
    JobPriority,
    NodeStatus,
    RenderJob,
    RenderJobStatus,
    ServiceTier,
)

if TYPE_CHECKING:
    from render_farm_manager.core.manager import RenderFarmManager

S = RenderJobStatus
_ACTIVE = (S.PENDING, S.QUEUED, S.RUNNING, S.PAUSED)


def expected_completion(
    manager: RenderFarmManager, job: RenderJob, _depth: int = 0
) -> datetime | None:
    """When the job is expected to finish, or None when it cannot be told (or never will)."""
    if job.status == S.COMPLETED:
        return job.completed_at
    if job.status in (S.FAILED, S.CANCELLED, S.PAUSED) or job.blocked_reason:
        return None
    forecast = manager.forecast()
    if job.id in forecast:
        return forecast[job.id]
    if _depth > 50:
        return None
    # Waiting on dependencies: after the last parent, on the fastest fitting node.
    parent_finishes = []
    for dep_id in job.dependencies:
        parent = manager.jobs.get(dep_id)
        finish = None if parent is None else expected_completion(manager, parent, _depth + 1)
        if finish is None:
            return None
        parent_finishes.append(finish)
    start = max([manager.clock.now(), *parent_finishes])
    return manager.scheduler.expected_finish_on_best_node(job, manager.nodes.values(), start)


def job_status(manager: RenderFarmManager, job: RenderJob) -> dict[str, Any]:
    now = manager.clock.now()
    finish = expected_completion(manager, job)
    if job.status == S.COMPLETED:
        will_meet = job.completed_at is not None and job.completed_at <= job.deadline
    else:
        will_meet = finish is not None and finish <= job.deadline
    return {
        "id": job.id,
        "name": job.name,
        "client_id": job.client_id,
        "status": RenderJobStatus(job.status).value,
        "priority": JobPriority(job.priority).value,
        "effective_priority": manager.scheduler.effective_priority(
            job, manager._index.inheritance, now
        ).value,
        "progress": job.progress,
        "deadline": job.deadline,
        "time_until_deadline_hours": hours_between(now, job.deadline),
        "estimated_completion": finish,
        "will_meet_deadline": will_meet,
        "deadline_feasible": job.deadline_feasible,
        "assigned_node": job.assigned_node_id,
        "error_count": job.error_count,
        "progressive_output_path": manager.progressive_renderer.get_latest_progressive_output(
            job.id
        ),
        "submission_time": job.submission_time,
        "last_checkpoint_time": job.last_checkpoint_time,
        "last_progressive_output_time": job.last_progressive_output_time,
        "blocked_reason": job.blocked_reason,
        "failure_reason": job.failure_reason,
        "emergency": job.emergency,
        "excluded_node_ids": list(job.excluded_node_ids),
    }


def _online_count(manager: RenderFarmManager) -> int:
    return sum(1 for n in manager.nodes.values() if n.status == NodeStatus.ONLINE)


def client_status(manager: RenderFarmManager, client: AnyClient) -> dict[str, Any]:
    jobs = [j for j in manager.jobs.values() if j.client_id == client.id]
    by_status = Counter(RenderJobStatus(j.status).value for j in jobs)
    online = _online_count(manager)
    running = sum(1 for j in manager._index.running_by_node.values() if j.client_id == client.id)
    allocation = manager.resource_allocations.get(client.id)
    return {
        "id": client.id,
        "name": client.name,
        "sla_tier": ServiceTier(client.sla_tier).value,
        "guaranteed_resources": client.guaranteed_resources,
        "max_resources": client.max_resources,
        "current_resource_usage": 100.0 * running / online if online else 0.0,
        "resource_allocation": allocation.model_dump() if allocation is not None else None,
        "total_jobs": len(jobs),
        "jobs_by_status": {s.value: by_status.get(s.value, 0) for s in RenderJobStatus},
        "active_jobs": [
            {
                "id": j.id,
                "name": j.name,
                "status": RenderJobStatus(j.status).value,
                "progress": j.progress,
            }
            for j in jobs
            if j.status in _ACTIVE
        ],
    }


def _compute_resources(manager: RenderFarmManager) -> dict[str, float]:
    online = [n for n in manager.nodes.values() if n.status == NodeStatus.ONLINE]
    totals = {"cpu": 0.0, "gpu": 0.0, "memory": 0.0}
    idle = {"cpu": 0.0, "gpu": 0.0, "memory": 0.0}
    for node in online:
        caps = node.capabilities
        amounts = {"cpu": caps.cpu_cores, "gpu": caps.gpu_count, "memory": caps.memory_gb}
        for key, amount in amounts.items():
            totals[key] += amount
            if node.current_job_id is None:
                idle[key] += amount
    report: dict[str, float] = {}
    names = {"cpu": "cpu_cores", "gpu": "gpus", "memory": "memory_gb"}
    for key, name in names.items():
        report[f"total_{name}"] = totals[key]
        report[f"idle_{name}"] = idle[key]
        used = totals[key] - idle[key]
        report[f"{key}_utilization_percentage"] = 100.0 * used / totals[key] if totals[key] else 0.0
    return report


def farm_status(manager: RenderFarmManager) -> dict[str, Any]:
    node_counts = Counter(NodeStatus(n.status).value for n in manager.nodes.values())
    job_counts = Counter(RenderJobStatus(j.status).value for j in manager.jobs.values())
    by_client = Counter(j.client_id for j in manager.jobs.values())
    energy = manager.energy_optimizer
    return {
        "total_nodes": len(manager.nodes),
        "nodes_by_status": {s.value: node_counts.get(s.value, 0) for s in NodeStatus},
        "total_jobs": len(manager.jobs),
        "jobs_by_status": {s.value: job_counts.get(s.value, 0) for s in RenderJobStatus},
        "jobs_by_client": dict(by_client),
        "total_clients": len(manager.clients),
        "current_energy_mode": energy.current_energy_mode.value,
        "performance_metrics": manager.performance_metrics.model_dump(),
        "compute_resources": _compute_resources(manager),
        "queue_length": manager.queue_length,
        "energy_cost": energy.total_cost,
        "time": manager.clock.now(),
        "next_price_change": energy.tariff.next_change(manager.clock.now()),
        "current_energy_price": energy.get_time_of_day_energy_price(manager.clock.now()),
        "draining_nodes": [n.id for n in manager.nodes.values() if n.draining],
    }


__all__ = ["client_status", "expected_completion", "farm_status", "job_status"]
