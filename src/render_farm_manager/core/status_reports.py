"""The dictionaries behind ``get_job_status``, ``get_client_status`` and ``get_farm_status``.

They read the farm's state (the change path's dictionaries and index) and what components know;
they change nothing and never import the manager.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.change_path import ChangePath
from render_farm_manager.core.clock import hours_between
from render_farm_manager.core.models import (
    AnyClient,
    JobPriority,
    NodeStatus,
    PerformanceMetrics,
    RenderJob,
    RenderJobStatus,
    RenderTask,
    ResourceAllocation,
    ServiceTier,
)
from render_farm_manager.core.work import remaining_hours

if TYPE_CHECKING:
    from render_farm_manager.core.interfaces import (
        EnergyOptimizerInterface,
        ProgressiveRendererInterface,
        SchedulerInterface,
    )

S = RenderJobStatus
_ACTIVE = (S.PENDING, S.QUEUED, S.RUNNING, S.PAUSED)
BestSpeed = Callable[[RenderJob], float | None]


def expected_completion(
    path: ChangePath,
    job: RenderJob,
    forecast: Mapping[str, datetime],
    now: datetime,
    best_speed: BestSpeed,
) -> datetime | None:
    """When the job is expected to finish, or None when it cannot be told (or never will).

    Running and eligible waiting work comes from the forecast of the queue. Work waiting on
    dependencies starts after its last parent, on the fastest fitting online node; the chain of
    parents is walked once, however deep.
    """
    known: dict[str, datetime | None] = {}
    on_stack = {job.id}

    def direct(current: RenderJob) -> tuple[bool, datetime | None]:
        """(settled, finish) for a job whose finish needs no parent."""
        if current.status == S.COMPLETED:
            return True, current.completed_at
        if current.status in (S.FAILED, S.CANCELLED, S.PAUSED) or current.blocked_reason:
            return True, None
        if current.id in forecast:
            return True, forecast[current.id]
        return False, None

    stack = [job]
    while stack:
        current = stack[-1]
        if current.id in known:
            stack.pop()
            continue
        settled, finish = direct(current)
        if settled:
            known[current.id] = finish
            stack.pop()
            on_stack.discard(current.id)
            continue
        parents = [path.jobs.get(d) for d in current.dependencies]
        pending = [p for p in parents if p is not None and p.id not in known]
        if any(p.id in on_stack for p in pending):  # a cycle: cannot be told
            pending = []
            parents = [None]
        if pending:
            stack.extend(pending)
            on_stack.update(p.id for p in pending)
            continue
        stack.pop()
        on_stack.discard(current.id)
        finishes = [known.get(p.id) if p is not None else None for p in parents]
        speed = best_speed(current)
        if speed is None or any(f is None for f in finishes):
            known[current.id] = None
            continue
        start = max([now, *(f for f in finishes if f is not None)])
        known[current.id] = start + timedelta(hours=remaining_hours(current) / speed)
    return known[job.id]


def job_status(
    path: ChangePath,
    job: RenderJob,
    *,
    forecast: Mapping[str, datetime],
    scheduler: SchedulerInterface,
    previews: ProgressiveRendererInterface,
    best_speed: BestSpeed,
) -> dict[str, Any]:
    now = path.now()
    finish = expected_completion(path, job, forecast, now, best_speed)
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
        "effective_priority": scheduler.effective_priority(job, path.index.inheritance, now).value,
        "progress": job.progress,
        "deadline": job.deadline,
        "time_until_deadline_hours": hours_between(now, job.deadline),
        "estimated_completion": finish,
        "will_meet_deadline": will_meet,
        "deadline_feasible": job.deadline_feasible,
        "assigned_node": job.assigned_node_id,
        "error_count": job.error_count,
        "progressive_output_path": previews.get_latest_progressive_output(job.id),
        "submission_time": job.submission_time,
        "last_checkpoint_time": job.last_checkpoint_time,
        "last_progressive_output_time": job.last_progressive_output_time,
        "blocked_reason": job.blocked_reason,
        "failure_reason": job.failure_reason,
        "placement_warning": job.placement_warning,
        "emergency": job.emergency,
        "excluded_node_ids": list(job.excluded_node_ids),
    }


def _online_count(path: ChangePath) -> int:
    return sum(1 for n in path.nodes.values() if n.status == NodeStatus.ONLINE)


def client_status(
    path: ChangePath, client: AnyClient, allocation: ResourceAllocation | None
) -> dict[str, Any]:
    everything = [j for j in path.jobs.values() if j.client_id == client.id]
    jobs = [j for j in everything if not isinstance(j, RenderTask)]  # a shot counts once
    tasks = Counter(
        RenderJobStatus(j.status).value for j in everything if isinstance(j, RenderTask)
    )
    by_status = Counter(RenderJobStatus(j.status).value for j in jobs)
    online = _online_count(path)
    running = sum(1 for j in path.index.running_by_node.values() if j.client_id == client.id)
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
        "tasks_by_status": dict(tasks),
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


def _compute_resources(path: ChangePath) -> dict[str, float]:
    online = [n for n in path.nodes.values() if n.status == NodeStatus.ONLINE]
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


def farm_status(
    path: ChangePath, *, energy: EnergyOptimizerInterface, metrics: PerformanceMetrics
) -> dict[str, Any]:
    node_counts = Counter(NodeStatus(n.status).value for n in path.nodes.values())
    jobs = [j for j in path.jobs.values() if not isinstance(j, RenderTask)]  # shots once
    job_counts = Counter(RenderJobStatus(j.status).value for j in jobs)
    task_counts = Counter(
        RenderJobStatus(j.status).value for j in path.jobs.values() if isinstance(j, RenderTask)
    )
    by_client = Counter(j.client_id for j in jobs)
    now = path.now()
    return {
        "total_nodes": len(path.nodes),
        "nodes_by_status": {s.value: node_counts.get(s.value, 0) for s in NodeStatus},
        "total_jobs": len(jobs),
        "jobs_by_status": {s.value: job_counts.get(s.value, 0) for s in RenderJobStatus},
        "tasks_by_status": dict(task_counts),
        "jobs_by_client": dict(by_client),
        "total_clients": len(path.clients),
        "current_energy_mode": energy.current_energy_mode.value,
        "performance_metrics": metrics.model_dump(),
        "compute_resources": _compute_resources(path),
        "queue_length": len(path.index.queue),
        "energy_cost": energy.total_cost,
        "time": now,
        "next_price_change": energy.next_price_change(now),
        "current_energy_price": energy.get_time_of_day_energy_price(now),
        "draining_nodes": [n.id for n in path.nodes.values() if n.draining],
    }


__all__ = ["client_status", "expected_completion", "farm_status", "job_status"]
