"""The scheduler's interface: which waiting job goes on which node, and when to preempt."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from render_farm_manager.core.clock import Clock, SystemClock
from render_farm_manager.core.models import (
    JobPriority,
    RenderJob,
    RenderNode,
)
from render_farm_manager.core.work import UnitOfWork, remaining_hours

if TYPE_CHECKING:
    from render_farm_manager.core.interfaces.energy_optimizer import EnergyOptimizerInterface
    from render_farm_manager.core.interfaces.node_specializer import NodeSpecializerInterface
    from render_farm_manager.resource_management.quota_book import QuotaBook
    from render_farm_manager.scheduling.cycle_plan import CyclePlan
    from render_farm_manager.scheduling.inheritance import InheritanceIndex
    from render_farm_manager.scheduling.limits import LimitBook
    from render_farm_manager.scheduling.locality import Locality
    from render_farm_manager.scheduling.ready_queue import ReadyQueue


class SchedulerInterface(ABC):
    """Decides which waiting job goes on which node, and when to preempt."""

    deadline_safety_margin_hours: float = 2.0
    node_specializer: NodeSpecializerInterface | None = None
    clock: Clock = SystemClock()

    @abstractmethod
    def schedule_jobs(self, jobs: list[RenderJob], nodes: list[RenderNode]) -> dict[str, str]:
        """New assignments (job id → node id) for the waiting jobs among ``jobs`` on the free
        nodes among ``nodes``. Changes nothing: applying them is the manager's job."""

    @abstractmethod
    def update_priorities(self, jobs: list[RenderJob]) -> list[RenderJob]:
        """Raise the priority of unfinished jobs whose deadline approaches; returns the jobs
        given, with their current priorities."""

    @abstractmethod
    def can_meet_deadline(self, job: RenderJob, nodes: list[RenderNode]) -> bool:
        """Could ``job`` finish by its deadline on one of ``nodes``?"""

    @abstractmethod
    def should_preempt(self, running_job: RenderJob, pending_job: RenderJob) -> bool:
        """Would ``pending_job`` take ``running_job``'s node?"""

    # -- what the manager calls; defaults built on the methods above -----------------------------

    @property
    def margin_seconds(self) -> float:
        return self.deadline_safety_margin_hours * 3600.0

    def use_clock(self, clock: Clock) -> None:
        """Take the time from ``clock`` (the manager's) from now on."""
        self.clock = clock

    def plan_cycle(
        self,
        *,
        queue: ReadyQueue,
        jobs: Mapping[str, UnitOfWork],
        nodes: Iterable[RenderNode],
        running_by_node: Mapping[str, UnitOfWork],
        now: datetime,
        inheritance: InheritanceIndex | None = None,
        quotas: QuotaBook | None = None,
        energy: EnergyOptimizerInterface | None = None,
        reclaim_by_preemption: bool = False,
        reclaim_grace_minutes: float = 30.0,
        limits: LimitBook | None = None,
        locality: Locality | None = None,
    ) -> CyclePlan:
        """One cycle's decisions, from the eligible waiting work in ``queue``, the nodes, the
        running work, the client quotas to enforce, the energy optimizer to consult and which
        scene each node holds (``locality``: a node keeps the shot it renders). Pure: it changes
        nothing. By default: the assignments :meth:`schedule_jobs` makes for the
        eligible waiting jobs, in scheduling order."""
        from render_farm_manager.scheduling.cycle_plan import CyclePlan

        waiting = [jobs[job_id] for job_id in queue.in_order(now.timestamp(), self.margin_seconds)]
        assignments = self.schedule_jobs(waiting, list(nodes))  # type: ignore[arg-type]
        return CyclePlan(assignments=dict(assignments), examined=len(waiting))

    def forecast(
        self,
        *,
        queue: ReadyQueue,
        jobs: Mapping[str, UnitOfWork],
        nodes: Iterable[RenderNode],
        running_by_node: Mapping[str, UnitOfWork],
        now: datetime,
    ) -> dict[str, datetime]:
        """Expected finish of running and waiting work. By default: running work at its
        estimate; waiting work is left out (the manager then assumes it starts now)."""
        return {
            job.id: now + timedelta(hours=remaining_hours(job)) for job in running_by_node.values()
        }

    def effective_priority(
        self,
        job: UnitOfWork,
        inheritance: InheritanceIndex | None = None,
        now: datetime | None = None,
    ) -> JobPriority:
        """The priority the job is scheduled at now. By default: its own."""
        return JobPriority(job.priority)
