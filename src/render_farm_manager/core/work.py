"""The "unit of work" view the decision core is written against.

A :class:`~render_farm_manager.core.models.RenderJob` satisfies it today; chunk tasks of a frame
range will satisfy it tomorrow. The core reads only these attributes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from render_farm_manager.core.models import JobPriority, RenderJobStatus


class UnitOfWork(Protocol):
    """What the scheduler needs to know about one schedulable piece of work."""

    id: str
    client_id: str
    job_type: str
    status: RenderJobStatus
    priority: JobPriority
    deadline: datetime
    estimated_duration_hours: float
    progress: float
    requires_gpu: bool
    memory_requirements_gb: float
    cpu_requirements: int
    dependencies: list[str]
    can_be_preempted: bool
    supports_checkpoint: bool
    energy_intensive: bool
    emergency: bool
    excluded_node_ids: list[str]
    started_at: datetime | None
    progress_reported_at: datetime | None


def remaining_hours(work: UnitOfWork) -> float:
    """Estimated hours of work left at reference speed."""
    return work.estimated_duration_hours * (1.0 - work.progress / 100.0)


def discarded_hours(work: UnitOfWork, now: datetime) -> float:
    """Node-hours of running work a preemption would throw away now: none for work that
    checkpoints (it stops at a checkpoint), else everything since it started."""
    if work.supports_checkpoint or work.started_at is None:
        return 0.0
    return max(0.0, (now - work.started_at).total_seconds() / 3600.0)


def progress_lost_hours(work: UnitOfWork) -> float:
    """Reference hours of work that must be redone after a preemption (the progress of work
    that does not checkpoint)."""
    return (
        0.0 if work.supports_checkpoint else work.estimated_duration_hours - remaining_hours(work)
    )
