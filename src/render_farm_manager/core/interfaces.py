"""The abstract interface of every component the manager is built from.

Each shipped component implements one of these, and a component you write yourself can take its
place: subclass the interface, implement its abstract methods (the seed API of that component),
and hand an instance to ``RenderFarmManager(scheduler=..., resource_manager=...)``. The other
methods have defaults that work with the abstract ones alone; the shipped components override
them with faster or smarter versions.

For example, a scheduler needs only ``schedule_jobs`` (and the three other seed methods): the
manager asks it each cycle for new assignments of the waiting jobs, in scheduling order, and
applies them through its change path, checking each one first.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.clock import Clock, SystemClock
from render_farm_manager.core.models import (
    AnyClient,
    AuditLogEntry,
    EnergyMode,
    JobPriority,
    ProgressiveOutputConfig,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    ResourceAllocation,
)
from render_farm_manager.core.work import UnitOfWork, remaining_hours

if TYPE_CHECKING:
    from render_farm_manager.resource_management.quota_book import QuotaBook
    from render_farm_manager.scheduling.cycle_plan import CyclePlan
    from render_farm_manager.scheduling.inheritance import InheritanceIndex
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
    ) -> CyclePlan:
        """One cycle's decisions, from the eligible waiting work in ``queue``, the nodes, the
        running work, the client quotas to enforce and the energy optimizer to consult. Pure:
        it changes nothing. By default: the assignments :meth:`schedule_jobs` makes for the
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


class ResourceManagerInterface(ABC):
    """Partitions the farm among clients: guarantees, ceilings, borrowing."""

    allow_borrowing: bool = True
    borrowing_limit_percentage: float = 50.0
    reclaim_by_preemption: bool = False
    reclaim_grace_minutes: float = 30.0

    @abstractmethod
    def allocate_resources(
        self,
        clients: Iterable[AnyClient] | None = None,
        nodes: Iterable[RenderNode] | None = None,
    ) -> dict[str, ResourceAllocation]:
        """Share the given online nodes among the clients."""

    @abstractmethod
    def can_borrow_resources(self, from_client: Any, to_client: Any, amount: float) -> bool:
        """Could ``to_client`` borrow ``amount`` percent of the farm from ``from_client``?"""

    @abstractmethod
    def calculate_resource_usage(
        self, client_id: str, jobs: Iterable[RenderJob], nodes: Iterable[RenderNode]
    ) -> float:
        """Percent of the online farm running the client's jobs."""

    def add_client(self, client: AnyClient) -> None:  # noqa: B027 - optional hook
        """A client was registered with the manager."""

    def remove_client(self, client_id: str) -> None:  # noqa: B027 - optional hook
        """A client was removed."""

    def add_node(self, node: RenderNode) -> None:  # noqa: B027 - optional hook
        """A node was registered with the manager."""

    def remove_node(self, node_id: str) -> None:  # noqa: B027 - optional hook
        """A node was removed."""

    def plan_quotas(
        self,
        clients: Iterable[AnyClient],
        nodes: Iterable[RenderNode],
        running: Mapping[str, int],
        waiting: Mapping[str, int],
        running_nodes: Mapping[str, list[str]],
    ) -> tuple[QuotaBook, dict[str, ResourceAllocation]]:
        """The quotas the scheduler enforces this cycle, and the allocation reported for them.
        By default: guarantees and ceilings of the clients, and :meth:`allocate_resources`."""
        from render_farm_manager.core.models import NodeStatus
        from render_farm_manager.resource_management.quota_book import QuotaBook

        client_list, node_list = list(clients), list(nodes)
        schedulable = sum(1 for n in node_list if n.status == NodeStatus.ONLINE and not n.draining)
        book = QuotaBook.build(
            {c.id: float(c.guaranteed_resources) for c in client_list},
            {c.id: float(c.max_resources) for c in client_list},
            schedulable,
            running,
            waiting,
            allow_borrowing=self.allow_borrowing,
            borrowing_limit_percentage=self.borrowing_limit_percentage,
        )
        return book, self.allocate_resources(client_list, node_list)

    def remember(self, allocations: dict[str, ResourceAllocation]) -> None:  # noqa: B027
        """The allocations of the cycle that just committed."""


class NodeSpecializerInterface(ABC):
    """Matches jobs to nodes and learns how fast each node renders each kind of job."""

    job_type_specializations: dict[str, list[str]]

    @abstractmethod
    def match_job_to_node(self, job: UnitOfWork, nodes: list[RenderNode]) -> str | None:
        """The best free node that can run ``job``, or None."""

    @abstractmethod
    def calculate_performance_score(self, job: UnitOfWork, node: RenderNode) -> float:
        """How well ``node`` suits ``job`` (0 when it cannot run it)."""

    @abstractmethod
    def update_performance_history(
        self, job: RenderJob, node: RenderNode, metrics: dict[str, Any]
    ) -> float:
        """Learn from one finished render (``metrics['render_time_hours']``)."""

    @abstractmethod
    def analyze_node_efficiency(self, nodes: list[RenderNode]) -> dict[str, Any]:
        """A report of what is known about each node."""

    def expected_speed(self, node: RenderNode, job_type: str) -> float:
        """Speed of ``node`` on ``job_type`` relative to the estimate (1.0: at the estimate)."""
        return 1.0

    def class_speed(self, hardware_class_key: str, job_type: str) -> float:
        return 1.0

    def expected_hours(self, job: UnitOfWork, node: RenderNode) -> float:
        """Expected wall-clock hours for the rest of ``job`` on ``node``."""
        return remaining_hours(job) / self.expected_speed(node, job.job_type)

    @property
    def learned_version(self) -> int:
        """Changes whenever a learned speed changes (for caches)."""
        return 0

    def speeds_edited(self, node: RenderNode) -> None:  # noqa: B027 - optional hook
        """A user edited ``node.performance_history``."""


class ProgressiveRendererInterface(ABC):
    """Plans and records progressive previews of running jobs."""

    default_config: ProgressiveOutputConfig = ProgressiveOutputConfig()

    @abstractmethod
    def schedule_progressive_output(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> list[datetime]:
        """When previews of ``job`` are due."""

    @abstractmethod
    def generate_progressive_output(self, job: RenderJob, quality: int) -> str:
        """Produce a preview of ``job`` at ``quality`` and return where it goes."""

    @abstractmethod
    def estimate_overhead(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> float:
        """Extra render time spent on previews, in percent."""

    @abstractmethod
    def process_pending_outputs(
        self, jobs: Iterable[RenderJob], config: ProgressiveOutputConfig | None = None
    ) -> dict[str, str]:
        """Produce the previews due now; returns job id → path."""

    @abstractmethod
    def get_latest_progressive_output(self, job_id: str) -> str | None:
        """The latest preview of the job, if any."""

    def use_clock(self, clock: Clock) -> None:  # noqa: B027 - optional hook
        """Take the time from ``clock`` from now on."""

    def job_started(self, job: RenderJob, expected_hours: float) -> None:  # noqa: B027
        """``job`` started on a node expected to render it in ``expected_hours``."""

    def forget(self, job_id: str) -> None:  # noqa: B027 - optional hook
        """``job`` finished: drop what was planned for it."""

    def due_outputs(
        self,
        jobs: Iterable[RenderJob],
        config: ProgressiveOutputConfig | None = None,
        now: datetime | None = None,
    ) -> list[tuple[RenderJob, int]]:
        """Running jobs with a preview due at ``now``, and its quality. Changes nothing."""
        config = config or self.default_config
        moment = now if now is not None else datetime.now()
        due: list[tuple[RenderJob, int]] = []
        for job in jobs:
            if job.status != RenderJobStatus.RUNNING or not job.supports_progressive_output:
                continue
            last = job.last_progressive_output_time
            times = self.schedule_progressive_output(job, config)
            if any(t <= moment and (last is None or t > last) for t in times):
                levels = config.quality_levels
                index = min(len(levels) - 1, int(job.progress / 100.0 * len(levels)))
                due.append((job, levels[index]))
        return due


class EnergyOptimizerInterface(ABC):
    """Energy- and cost-aware decisions."""

    current_energy_mode: EnergyMode = EnergyMode.BALANCED
    total_kwh: float = 0.0
    total_cost: float = 0.0

    @abstractmethod
    def set_energy_mode(self, mode: EnergyMode | str) -> EnergyMode:
        """Switch mode; returns the previous one."""

    @abstractmethod
    def get_time_of_day_energy_price(self, dt: datetime) -> float:
        """Price per kWh at ``dt``."""

    @abstractmethod
    def calculate_energy_cost(
        self, job: RenderJob, node: RenderNode, start_time: datetime
    ) -> float:
        """Cost of running the rest of ``job`` on ``node`` from ``start_time``."""

    @abstractmethod
    def estimate_energy_savings(
        self, jobs: list[RenderJob], nodes: list[RenderNode]
    ) -> dict[str, float]:
        """What the current mode would save on ``jobs``."""

    @abstractmethod
    def optimize_energy_usage(
        self, jobs: list[RenderJob], nodes: list[RenderNode]
    ) -> dict[str, str]:
        """Energy-aware assignments (job id → node id)."""

    @property
    def energy_weight(self) -> float:
        """Share of a node's match score that its power efficiency carries."""
        return 0.0

    def use_clock(self, clock: Clock) -> None:  # noqa: B027 - optional hook
        """Take the time from ``clock`` from now on."""

    def deferral_until(
        self,
        job: UnitOfWork,
        now: datetime,
        queue_wait_hours: float = 0.0,
        margin_hours: float | None = None,
    ) -> datetime | None:
        """When ``job`` should start instead of now to save energy, or None. By default:
        never deferred."""
        return None

    def measure_usage(
        self, nodes: Iterable[RenderNode], start: datetime, end: datetime
    ) -> tuple[float, float]:
        """(kWh, cost) the nodes drew between ``start`` and ``end``. Changes nothing."""
        return 0.0, 0.0

    def add_usage(self, kwh: float, cost: float, start: datetime) -> None:  # noqa: B027
        """Account measured usage."""

    def next_price_change(self, moment: datetime) -> datetime | None:
        return None

    def power_down_candidates(
        self,
        nodes: list[RenderNode],
        waiting_jobs: Iterable[UnitOfWork],
        now: datetime | None = None,
        keep_awake: int = 1,
        margin_hours: float | None = None,
    ) -> list[Any]:
        """Idle nodes that could be powered down. By default: none."""
        return []


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


class PerformanceMonitorInterface(ABC):
    """Operation timings and farm metrics."""

    @abstractmethod
    def record_operation_time(self, operation_name: str, seconds: float) -> None: ...

    @abstractmethod
    def get_average_operation_time(self, operation_name: str) -> float: ...

    @abstractmethod
    def get_min_operation_time(self, operation_name: str) -> float: ...

    @abstractmethod
    def get_max_operation_time(self, operation_name: str) -> float: ...

    @abstractmethod
    def update_scheduling_cycle_time(self, seconds: float, jobs_scheduled: int = 0) -> None: ...

    @abstractmethod
    def update_node_utilization(self, node_id: str, utilization_percentage: float) -> None: ...

    @abstractmethod
    def update_client_job_count(self, client_id: str, count: int) -> None: ...

    @abstractmethod
    def update_client_resource_metrics(
        self,
        client_id: str,
        allocated_percentage: float,
        used_percentage: float = 0.0,
        borrowed_percentage: float = 0.0,
        lent_percentage: float = 0.0,
    ) -> None: ...

    @abstractmethod
    def update_job_turnaround_time(self, job_id: str, hours: float) -> None: ...

    @abstractmethod
    def update_node_failure_count(self, node_id: str) -> None: ...

    @abstractmethod
    def update_energy_cost_saved(self, amount: float) -> None: ...

    @abstractmethod
    def get_client_metrics(self, client_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def reset_metrics(self) -> None: ...

    @contextmanager
    def time_operation(self, operation_name: str) -> Iterator[None]:
        """Time the body of a ``with`` block and record it under ``operation_name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record_operation_time(operation_name, time.perf_counter() - started)


__all__ = [
    "AuditLoggerInterface",
    "EnergyOptimizerInterface",
    "NodeSpecializerInterface",
    "PerformanceMonitorInterface",
    "ProgressiveRendererInterface",
    "ResourceManagerInterface",
    "SchedulerInterface",
]
