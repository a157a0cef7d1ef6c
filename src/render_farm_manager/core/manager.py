"""RenderFarmManager: the facade of the seed API.

It holds the farm's state (clients, nodes, jobs), turns events (submissions, progress,
completions, failures) into state changes through one path (:meth:`RenderFarmManager._move`),
and asks the decision core for the next decisions in :meth:`run_scheduling_cycle`. Time comes from
an injected clock; one re-entrant lock makes every public method safe to call from several threads.
"""

from __future__ import annotations

import threading
import time as _time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from render_farm_manager.core import status_reports
from render_farm_manager.core.clock import Clock, as_clock, hours_between
from render_farm_manager.core.errors import (
    ClientInUseError,
    DuplicateIdError,
    IllegalTransitionError,
    NodeMismatchError,
    RenderFarmError,
    UnknownClientError,
    UnknownJobError,
    UnknownNodeError,
)
from render_farm_manager.core.job_index import JobIndex
from render_farm_manager.core.lifecycle import can_transition, check_transition
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    WAITING_STATUSES,
    AnyClient,
    EnergyMode,
    JobPriority,
    LogLevel,
    NodeStatus,
    PerformanceMetrics,
    ProgressiveOutputConfig,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    ResourceAllocation,
    ServiceTier,
)
from render_farm_manager.core.work import remaining_hours
from render_farm_manager.energy_optimization.energy_optimizer import EnergyOptimizer
from render_farm_manager.node_specialization.fit import hardware_misfit
from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)
from render_farm_manager.progressive_result.progressive_renderer import ProgressiveRenderer
from render_farm_manager.resource_management.resource_partitioner import ResourcePartitioner
from render_farm_manager.scheduling.cycle_plan import CyclePlan, Preemption
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.scheduling.node_pools import pool_key
from render_farm_manager.utils.logging import AuditLogger, PerformanceMonitor

S = RenderJobStatus
MIN_LEARNABLE_SHARE = 0.01
"""A render reported faster than 1% of its estimate is a reporting artefact, not a speed."""


class RenderFarmManager:
    """The render farm: clients, nodes and jobs, and the components that decide for them.

    Beyond the seed API's keyword arguments: ``clock`` (an object with ``now()`` or a callable;
    the system clock by default), ``max_job_errors`` (failures before a job is failed, 3),
    ``node_blocklist_threshold`` (failures of one job on one node before that node is
    blocklisted for it, 2).
    """

    def __init__(
        self,
        scheduler: DeadlineScheduler | None = None,
        resource_manager: ResourcePartitioner | None = None,
        node_specializer: NodeSpecializationManager | None = None,
        progressive_renderer: ProgressiveRenderer | None = None,
        energy_optimizer: EnergyOptimizer | None = None,
        audit_logger: AuditLogger | None = None,
        performance_monitor: PerformanceMonitor | None = None,
        *,
        clock: Clock | Callable[[], datetime] | None = None,
        max_job_errors: int = 3,
        node_blocklist_threshold: int = 2,
    ) -> None:
        if max_job_errors < 1 or node_blocklist_threshold < 1:
            raise ValueError("max_job_errors and node_blocklist_threshold must be at least 1")
        self.clock = as_clock(clock)
        self.audit_logger = audit_logger if audit_logger is not None else AuditLogger()
        self.audit_logger.use_clock(self.clock.now)
        self.performance_monitor = (
            performance_monitor
            if performance_monitor is not None
            else PerformanceMonitor(self.audit_logger)
        )
        log, monitor = self.audit_logger, self.performance_monitor
        if node_specializer is None:
            node_specializer = (
                scheduler.node_specializer
                if scheduler is not None
                else NodeSpecializationManager(log, monitor)
            )
        self.node_specializer = node_specializer
        if scheduler is None:
            scheduler = DeadlineScheduler(log, monitor, node_specializer=node_specializer)
        self.scheduler = scheduler
        self.scheduler.node_specializer = node_specializer
        self.scheduler.use_clock(self.clock)
        self.resource_manager = (
            resource_manager if resource_manager is not None else ResourcePartitioner(log, monitor)
        )
        self.progressive_renderer = (
            progressive_renderer
            if progressive_renderer is not None
            else ProgressiveRenderer(log, monitor)
        )
        self.progressive_renderer.use_clock(self.clock)
        self.energy_optimizer = (
            energy_optimizer if energy_optimizer is not None else EnergyOptimizer(log, monitor)
        )
        self.energy_optimizer.use_clock(self.clock)
        self.max_job_errors = max_job_errors
        self.node_blocklist_threshold = node_blocklist_threshold

        self.clients: dict[str, AnyClient] = {}
        self.nodes: dict[str, RenderNode] = {}
        self.jobs: dict[str, RenderJob] = {}
        self.resource_allocations: dict[str, ResourceAllocation] = {}
        self.performance_metrics = PerformanceMetrics()
        self.progressive_output_config = self.progressive_renderer.default_config

        self._lock = threading.RLock()
        self._index = JobIndex(self.jobs)
        self._failures_on_node: dict[str, Counter[str]] = defaultdict(Counter)
        self._progress_at_start: dict[str, float] = {}
        self._forecast: dict[str, datetime] | None = None
        self._kinds: list[RenderNode] | None = None
        self._kinds_version = -1
        self._best_speed_by_shape: dict[tuple[str, bool, float, int], float | None] = {}
        self._last_accounting: datetime | None = None
        self._utilization_total = 0.0
        self._cycles = 0
        self.last_cycle_plan: CyclePlan | None = None
        """What the latest scheduling cycle decided (placements, preemptions, deferrals)."""
        self._turnaround_total = 0.0

    # ------------------------------------------------------------------------------------------
    # The single state-change path
    # ------------------------------------------------------------------------------------------

    def _move(
        self, job: RenderJob, new_status: RenderJobStatus, reason: str = "", **details: Any
    ) -> None:
        """Change one job's status (see :meth:`_move_many`)."""
        self._move_many([job], new_status, reason, **details)

    def _move_many(
        self, jobs: list[RenderJob], new_status: RenderJobStatus, reason: str = "", **details: Any
    ) -> None:
        """The one place job statuses change: every move is checked against the transition
        table before any is made, audited (one entry, indexed under every job), and indexed."""
        if not jobs:
            return
        old_statuses = [job.status for job in jobs]
        for job, old_status in zip(jobs, old_statuses, strict=True):
            check_transition(job.id, old_status, new_status)
        for job in jobs:
            job.status = new_status
        self._forecast = None
        suffix = f": {reason}" if reason else ""
        if len(jobs) == 1:
            job, old = jobs[0], old_statuses[0]
            self.audit_logger.log_event(
                "job_status_changed",
                f"Job {job.id} {old.value} -> {new_status.value}{suffix}",
                job_id=job.id,
                client_id=job.client_id,
                node_id=job.assigned_node_id,
                old_status=old.value,
                new_status=new_status.value,
                reason=reason,
                **details,
            )
        else:
            self.audit_logger.log_batch_event(
                "job_status_changed",
                f"{len(jobs)} jobs -> {new_status.value}{suffix}",
                job_ids=[job.id for job in jobs],
                old_status=sorted({old.value for old in old_statuses}),
                new_status=new_status.value,
                reason=reason,
                **details,
            )
        for job, old in zip(jobs, old_statuses, strict=True):
            if old in WAITING_STATUSES and new_status in WAITING_STATUSES:
                self._index.newly_ready.discard(job.id)
            else:
                self._index.reindex(job)

    def _release_node(self, job: RenderJob) -> RenderNode | None:
        node = self.nodes.get(job.assigned_node_id or "")
        if node is None or node.current_job_id != job.id:
            return None
        node.current_job_id = None
        self._index.running_by_node.pop(node.id, None)
        self.performance_monitor.update_node_utilization(node.id, 0.0)
        if node.draining:
            node.draining = False
            old = NodeStatus(node.status).value
            node.status = NodeStatus.MAINTENANCE
            self.audit_logger.log_node_updated(
                node.id, node.name, old, "maintenance", reason="drained"
            )
        return node

    def _start(self, job: RenderJob, node: RenderNode, now: datetime, reason: str = "") -> None:
        check_transition(job.id, job.status, S.RUNNING)
        job.assigned_node_id = node.id
        node.current_job_id = job.id
        job.started_at = now
        self._progress_at_start[job.id] = job.progress
        self._index.running_by_node[node.id] = job
        if job.supports_progressive_output:
            self.progressive_renderer.job_started(
                job, self.node_specializer.expected_hours(job, node)
            )
        self.performance_monitor.update_node_utilization(node.id, 100.0)
        self._move(job, S.RUNNING, reason or "scheduled")
        self.audit_logger.log_job_scheduled(
            job.id, node.id, job.client_id, JobPriority(job.priority).value
        )

    def _requeue(self, job: RenderJob, reason: str, keep_progress: bool) -> None:
        """Send running work back to the queue; progress survives only with a checkpoint."""
        self._release_node(job)
        job.assigned_node_id = None
        if not (keep_progress and job.supports_checkpoint):
            job.progress = 0.0
        self._move(job, S.QUEUED, reason)

    def _fail(self, job: RenderJob, reason: str) -> None:
        self._release_node(job)
        job.failure_reason = reason
        self._move(job, S.FAILED, reason)
        self.audit_logger.log_job_failed(
            job.id, job.client_id, job.name, reason, error_count=job.error_count
        )
        self._after_finish(job)

    def _after_finish(self, job: RenderJob) -> None:
        """Bookkeeping shared by every way a job ends."""
        self._progress_at_start.pop(job.id, None)
        self.progressive_renderer.forget(job.id)
        self._index.dependents_changed(job)
        self._index.refresh_ancestors(job)

    # ------------------------------------------------------------------------------------------
    # Clients and nodes
    # ------------------------------------------------------------------------------------------

    def add_client(self, client: AnyClient) -> None:
        with self._lock:
            if client.id in self.clients:
                raise DuplicateIdError("client", client.id)
            self.clients[client.id] = client
            self.resource_manager.add_client(client)
            self.audit_logger.log_client_added(
                client.id,
                client.name,
                ServiceTier(client.sla_tier).value,
                guaranteed_resources=client.guaranteed_resources,
                max_resources=client.max_resources,
            )

    def remove_client(self, client_id: str) -> bool:
        """Unregister a client; False if unknown. Raises :class:`ClientInUseError` while it has
        unfinished jobs."""
        with self._lock:
            if client_id not in self.clients:
                return False
            active = [
                j.id
                for j in self.jobs.values()
                if j.client_id == client_id and j.status not in FINISHED_STATUSES
            ]
            if active:
                raise ClientInUseError(client_id, active)
            client = self.clients.pop(client_id)
            self.resource_manager.remove_client(client_id)
            self.resource_allocations.pop(client_id, None)
            self.audit_logger.log_event(
                "client_removed", f"Client {client.name} ({client_id}) removed", client_id=client_id
            )
            return True

    def update_client_tier(self, client_id: str, tier: ServiceTier | str) -> bool:
        with self._lock:
            client = self.clients.get(client_id)
            if client is None:
                return False
            new_tier = ServiceTier(tier)
            old_tier = ServiceTier(client.sla_tier)
            client.sla_tier = new_tier
            self.audit_logger.log_client_updated(
                client_id, client.name, old_tier.value, new_tier.value
            )
            return True

    def add_node(self, node: RenderNode) -> None:
        """Register a node (also mid-flight: it takes work from the next cycle; a node of a known
        hardware class starts with that class's learned speeds)."""
        with self._lock:
            if node.id in self.nodes:
                raise DuplicateIdError("node", node.id)
            if node.current_job_id is not None:
                raise RenderFarmError(
                    f"node {node.id!r} is registered with current_job_id="
                    f"{node.current_job_id!r}; a new node must be free"
                )
            self.nodes[node.id] = node
            self.resource_manager.add_node(node)
            self._forecast = None
            self._kinds = None
            self.audit_logger.log_node_added(
                node.id, node.name, NodeStatus(node.status).value, node.capabilities
            )

    def remove_node(self, node_id: str) -> bool:
        """Unregister a node; its job, if any, goes back to the queue. False if unknown."""
        with self._lock:
            node = self.nodes.get(node_id)
            if node is None:
                return False
            self._evict(node, "node removed from the farm")
            del self.nodes[node_id]
            self.resource_manager.remove_node(node_id)
            self._forecast = None
            self._kinds = None
            self.audit_logger.log_event(
                "node_removed", f"Node {node.name} ({node_id}) removed", node_id=node_id
            )
            return True

    def _node(self, node_id: str) -> RenderNode:
        node = self.nodes.get(node_id)
        if node is None:
            raise UnknownNodeError(node_id)
        return node

    def _evict(self, node: RenderNode, reason: str) -> str | None:
        """Requeue the node's job (not the job's fault: no error counted, checkpoint kept)."""
        job = self._index.running_by_node.get(node.id)
        if job is None:
            return None
        self._requeue(job, reason, keep_progress=True)
        return job.id

    def _set_node_status(self, node: RenderNode, status: NodeStatus, reason: str) -> None:
        old = NodeStatus(node.status)
        node.status = status
        self._forecast = None
        self.audit_logger.log_node_updated(
            node.id, node.name, old.value, status.value, reason=reason
        )

    def set_node_online(self, node_id: str, online: bool = True) -> bool:
        """Bring a node online, or take it offline (its job goes back to the queue)."""
        with self._lock:
            node = self._node(node_id)
            if online:
                node.draining = False
                self._set_node_status(node, NodeStatus.ONLINE, "set online")
            else:
                self._evict(node, "node taken offline")
                node.draining = False
                self._set_node_status(node, NodeStatus.OFFLINE, "set offline")
            return True

    def set_node_maintenance(self, node_id: str, drain: bool = True) -> bool:
        """Take a node out for maintenance. With ``drain`` it finishes its current job first
        (taking no new one); without, its job goes back to the queue at once."""
        with self._lock:
            node = self._node(node_id)
            if drain and node.current_job_id is not None:
                node.draining = True
                self._forecast = None
                self.audit_logger.log_node_updated(
                    node.id,
                    node.name,
                    NodeStatus(node.status).value,
                    "draining",
                    reason="drain for maintenance",
                )
                return True
            self._evict(node, "node going to maintenance")
            node.draining = False
            self._set_node_status(node, NodeStatus.MAINTENANCE, "maintenance")
            return True

    def drain_node(self, node_id: str) -> bool:
        return self.set_node_maintenance(node_id, drain=True)

    # ------------------------------------------------------------------------------------------
    # Jobs
    # ------------------------------------------------------------------------------------------

    def _closes_cycle(self, job: RenderJob) -> list[str] | None:
        """The dependency path back to ``job`` if submitting it would close a cycle."""
        if job.id in job.dependencies:
            return [job.id, job.id]
        stack: list[tuple[str, list[str]]] = [(d, [job.id, d]) for d in job.dependencies]
        seen: set[str] = set()
        while stack:
            current, path = stack.pop()
            if current == job.id:
                return path
            if current in seen:
                continue
            seen.add(current)
            parent = self.jobs.get(current)
            if parent is not None:
                stack.extend((d, [*path, d]) for d in parent.dependencies)
        return None

    def _best_speed(self, job: RenderJob) -> float | None:
        """The fastest expected speed of any registered node whose hardware fits ``job``
        (cached per job shape until a node is added or removed or a speed is learned)."""
        learned = self.node_specializer.speeds.version
        if self._kinds is None or self._kinds_version != learned:
            self._kinds = list({pool_key(n): n for n in self.nodes.values()}.values())
            self._kinds_version = learned
            self._best_speed_by_shape.clear()
        shape = (job.job_type, job.requires_gpu, job.memory_requirements_gb, job.cpu_requirements)
        if shape not in self._best_speed_by_shape:
            speeds = [
                self.node_specializer.expected_speed(node, job.job_type)
                for node in self._kinds
                if hardware_misfit(job, node.capabilities) is None
            ]
            self._best_speed_by_shape[shape] = max(speeds) if speeds else None
        return self._best_speed_by_shape[shape]

    def _check_feasibility(self, job: RenderJob, now: datetime) -> None:
        speed = self._best_speed(job)
        if speed is None:
            feasible = False
            why = "no registered node has the hardware to run it"
        else:
            finish = now + timedelta(hours=remaining_hours(job) / speed)
            feasible = finish <= job.deadline
            why = f"even on the fastest fitting node it would finish at {finish:%Y-%m-%d %H:%M}"
        job.deadline_feasible = feasible
        if not feasible:
            self.audit_logger.log_event(
                "deadline_infeasible",
                f"Job {job.id} cannot meet its deadline {job.deadline:%Y-%m-%d %H:%M}: {why}",
                job_id=job.id,
                client_id=job.client_id,
                log_level=LogLevel.WARNING,
            )

    def submit_job(self, job: RenderJob) -> str:
        """Accept a job. A job closing a dependency cycle is stored as failed (reason in the audit
        log); an unknown client or a duplicate id raises and stores nothing. The deadline is
        checked against the farm at once (``deadline_feasible``)."""
        with self._lock:
            if job.id in self.jobs:
                raise DuplicateIdError("job", job.id)
            if job.client_id not in self.clients:
                raise UnknownClientError(job.client_id)
            if job.status not in WAITING_STATUSES:
                raise IllegalTransitionError(job.id, RenderJobStatus(job.status).value, "pending")
            now = self.clock.now()
            if job.status != S.PENDING:
                job.status = S.PENDING
            if job.submission_time is None:
                job.submission_time = now
            self.jobs[job.id] = job
            self.audit_logger.log_job_submitted(
                job.id,
                job.client_id,
                job.name,
                JobPriority(job.priority).value,
                emergency=job.emergency,
            )
            cycle = self._closes_cycle(job)
            if cycle is not None:
                self._fail(job, "circular dependency: " + " -> ".join(cycle))
                return job.id
            self._index.inheritance.link(job)
            self._check_feasibility(job, now)
            self._index.refresh_ancestors(job)
            self._index.reindex(job)
            self._index.dependents_changed(job)
            self._forecast = None
            return job.id

    def submit_emergency_job(self, job: RenderJob) -> str:
        """Submit a job that runs before everything else, preempting if it must, and run a
        scheduling cycle at once so it starts now."""
        with self._lock:
            job.emergency = True
            job.priority = JobPriority.CRITICAL
            job_id = self.submit_job(job)
            self.run_scheduling_cycle()
            return job_id

    def _job(self, job_id: str) -> RenderJob | None:
        return self.jobs.get(job_id)

    def cancel_job(self, job_id: str) -> bool:
        """Cancel; the node is freed, ``assigned_node_id`` kept for the record. False if unknown
        or already finished."""
        with self._lock:
            job = self._job(job_id)
            if job is None or job.status in FINISHED_STATUSES:
                return False
            self._release_node(job)
            self._move(job, S.CANCELLED, "cancelled")
            self._after_finish(job)
            return True

    def pause_job(self, job_id: str) -> bool:
        """Hold a job (a running one leaves its node; checkpointed progress is kept)."""
        with self._lock:
            job = self._job(job_id)
            if job is None or not can_transition(job.status, S.PAUSED):
                return False
            self._release_node(job)
            if not job.supports_checkpoint:
                job.progress = 0.0
            job.assigned_node_id = None
            self._move(job, S.PAUSED, "paused")
            return True

    def resume_job(self, job_id: str) -> bool:
        with self._lock:
            job = self._job(job_id)
            if job is None or job.status != S.PAUSED:
                return False
            self._move(job, S.QUEUED, "resumed")
            return True

    def retry_job(self, job_id: str) -> bool:
        """Put a failed job back in the queue with a clean error count."""
        with self._lock:
            job = self._job(job_id)
            if job is None or job.status != S.FAILED or self._closes_cycle(job):
                return False
            job.error_count = 0
            job.failure_reason = None
            self._index.inheritance.link(job)
            self._move(job, S.QUEUED, "retried by operator")
            self._index.dependents_changed(job)
            return True

    def update_job_priority(self, job_id: str, priority: JobPriority | str) -> bool:
        with self._lock:
            job = self._job(job_id)
            if job is None or job.status in FINISHED_STATUSES:
                return False
            new_priority = JobPriority(priority)
            old_priority = JobPriority(job.priority)
            job.priority = new_priority
            self._index.reindex(job)
            self._index.refresh_ancestors(job)
            self._forecast = None
            self.audit_logger.log_job_updated(
                job.id, job.client_id, job.name, old_priority.value, new_priority.value
            )
            return True

    def update_job_progress(self, job_id: str, progress: float) -> bool:
        """Record progress (clamped to 0-100); 100 completes the job. For a job that
        checkpoints, each report is a checkpoint."""
        with self._lock:
            job = self._job(job_id)
            if job is None or job.status in FINISHED_STATUSES:
                return False
            progress = max(0.0, min(100.0, float(progress)))
            if progress >= 100.0:
                return self.complete_job(job_id)
            job.progress = progress
            if job.supports_checkpoint and job.status == S.RUNNING:
                job.last_checkpoint_time = self.clock.now()
            self._forecast = None
            return True

    def complete_job(self, job_id: str, render_time_hours: float | None = None) -> bool:
        """Complete a job: progress 100, node freed, metrics and turnaround recorded, the node's
        learned speed updated. False if unknown or already finished."""
        with self._lock:
            job = self._job(job_id)
            if job is None or job.status in FINISHED_STATUSES:
                return False
            now = self.clock.now()
            node = self._release_node(job)
            self._learn(job, node, now, render_time_hours)
            job.progress = 100.0
            job.completed_at = now
            self._move(job, S.COMPLETED, "completed")
            self._record_completion(job, now)
            self._after_finish(job)
            return True

    def _learn(
        self,
        job: RenderJob,
        node: RenderNode | None,
        now: datetime,
        render_time_hours: float | None,
    ) -> None:
        if node is None or job.started_at is None:
            return
        share = (100.0 - self._progress_at_start.get(job.id, 0.0)) / 100.0
        if share <= 0:
            return
        observed = (
            render_time_hours
            if render_time_hours is not None
            else hours_between(job.started_at, now)
        )
        if observed < MIN_LEARNABLE_SHARE * job.estimated_duration_hours * share:
            return
        self.node_specializer.update_performance_history(
            job, node, {"render_time_hours": observed, "work_fraction": share}
        )

    def _record_completion(self, job: RenderJob, now: datetime) -> None:
        metrics = self.performance_metrics
        metrics.total_jobs_completed += 1
        if now <= job.deadline:
            metrics.jobs_completed_on_time += 1
        turnaround = hours_between(job.submission_time or now, now)
        self._turnaround_total += turnaround
        metrics.average_job_turnaround_hours = self._turnaround_total / metrics.total_jobs_completed
        self.performance_monitor.update_job_turnaround_time(job.id, turnaround)
        self.audit_logger.log_job_completed(
            job.id,
            job.client_id,
            job.name,
            now,
            on_time=now <= job.deadline,
            turnaround_hours=round(turnaround, 4),
        )

    # ------------------------------------------------------------------------------------------
    # Failures
    # ------------------------------------------------------------------------------------------

    def _count_failure(self, job: RenderJob, node_id: str | None, error: str) -> str:
        """One more failure of ``job``: blocklist a node that failed it repeatedly; fail the job
        at the threshold, else requeue it. Returns ``failed`` or ``requeued``."""
        job.error_count += 1
        if node_id is not None:
            on_node = self._failures_on_node[job.id]
            on_node[node_id] += 1
            if (
                on_node[node_id] >= self.node_blocklist_threshold
                and node_id not in job.excluded_node_ids
            ):
                job.excluded_node_ids = [*job.excluded_node_ids, node_id]
                self.audit_logger.log_event(
                    "node_blocklisted_for_job",
                    f"Node {node_id} failed job {job.id} {on_node[node_id]} times; "
                    "it will not get this job again",
                    job_id=job.id,
                    node_id=node_id,
                    client_id=job.client_id,
                    log_level=LogLevel.WARNING,
                )
        if job.error_count >= self.max_job_errors:
            self._fail(
                job,
                f"failed {job.error_count} times (limit {self.max_job_errors}); "
                f"last error: {error}",
            )
            return "failed"
        self._requeue(job, f"error: {error}", keep_progress=True)
        return "requeued"

    def handle_node_failure(self, node_id: str, error: str = "node failure") -> list[str]:
        """A node died: it goes to ``error``; its job returns to the queue (keeping checkpointed
        progress) or fails at the error threshold. Returns the affected job ids."""
        with self._lock:
            node = self._node(node_id)
            node.last_error = error
            self._set_node_status(node, NodeStatus.ERROR, error)
            node.draining = False
            self.performance_metrics.node_failures_count += 1
            self.performance_monitor.update_node_failure_count(node_id)
            job = self._index.running_by_node.get(node_id)
            self.audit_logger.log_node_failure(node_id, error, job_id=job.id if job else None)
            if job is None:
                return []
            self._count_failure(job, node_id, error)
            return [job.id]

    def report_render_error(
        self, job_id: str, error: str, node_id: str | None = None, corrupt_scene: bool = False
    ) -> str:
        """A renderer reported an error on a running job. A corrupt scene fails the job at once
        (no node can render it); other errors count towards the error threshold and the job is
        requeued. The node stays online. Returns ``failed`` or ``requeued``."""
        with self._lock:
            job = self._job(job_id)
            if job is None:
                raise UnknownJobError(job_id)
            if job.status != S.RUNNING:
                raise IllegalTransitionError(job_id, RenderJobStatus(job.status).value, "queued")
            if node_id is not None and node_id != job.assigned_node_id:
                raise NodeMismatchError(job_id, node_id, job.assigned_node_id)
            node_id = job.assigned_node_id
            self.audit_logger.log_error(
                f"Render error on job {job_id}: {error}",
                job_id=job_id,
                node_id=node_id,
                client_id=job.client_id,
                corrupt_scene=corrupt_scene,
            )
            if corrupt_scene:
                job.error_count += 1
                self._fail(job, f"corrupt scene: {error}")
                return "failed"
            return self._count_failure(job, node_id, error)

    # ------------------------------------------------------------------------------------------
    # The scheduling cycle
    # ------------------------------------------------------------------------------------------

    def _account_energy(self, now: datetime) -> None:
        last = self._last_accounting
        self._last_accounting = now
        if last is None or now <= last:
            return
        self.energy_optimizer.record_usage(self.nodes.values(), last, now)
        hours = hours_between(last, now)
        for node in self.nodes.values():
            if node.status == NodeStatus.ONLINE:
                node.uptime_hours += hours
        self.performance_metrics.energy_usage_kwh = self.energy_optimizer.total_kwh

    def _apply_preemption(self, preemption: Preemption) -> None:
        victim = self.jobs[preemption.victim_job_id]
        self._requeue(
            victim,
            f"preempted ({preemption.reason}) for job {preemption.for_job_id}",
            keep_progress=True,
        )
        self.performance_metrics.preemptions_count += 1
        self.audit_logger.log_event(
            "job_preempted",
            f"Job {victim.id} preempted on node {preemption.node_id} for job "
            f"{preemption.for_job_id} ({preemption.reason})",
            job_id=victim.id,
            node_id=preemption.node_id,
            client_id=victim.client_id,
            for_job_id=preemption.for_job_id,
            reason=preemption.reason,
            log_level=LogLevel.WARNING,
        )

    def run_scheduling_cycle(self) -> dict[str, Any]:
        """Decide and apply one round of placements, preemptions and previews."""
        started = _time.perf_counter()
        with self._lock:
            now = self.clock.now()
            self._account_energy(now)
            online = [n for n in self.nodes.values() if n.status == NodeStatus.ONLINE]
            schedulable = sum(1 for n in online if not n.draining)
            running_by_client = Counter(j.client_id for j in self._index.running_by_node.values())
            waiting_by_client = self._index.queue.waiting_by_client
            self._allocate(max(1, len(online)), running_by_client, waiting_by_client)
            quotas = self.resource_manager.quota_book(
                self.clients.values(), schedulable, running_by_client, waiting_by_client
            )
            plan = self.scheduler.plan_cycle(
                queue=self._index.queue,
                jobs=self.jobs,
                nodes=self.nodes.values(),
                running_by_node=self._index.running_by_node,
                now=now,
                inheritance=self._index.inheritance,
                quotas=quotas,
                energy=self.energy_optimizer,
                reclaim_by_preemption=self.resource_manager.reclaim_by_preemption,
                reclaim_grace_minutes=self.resource_manager.reclaim_grace_minutes,
            )
            self.last_cycle_plan = plan
            for preemption in plan.preemptions:
                self._apply_preemption(preemption)
            reasons = {
                p.for_job_id: f"preempted {p.victim_job_id} ({p.reason})" for p in plan.preemptions
            }
            for job_id, node_id in plan.assignments.items():
                self._start(
                    self.jobs[job_id], self.nodes[node_id], now, reasons.get(job_id, "scheduled")
                )
            self._move_many(
                [
                    self.jobs[job_id]
                    for job_id in self._index.newly_ready
                    if self.jobs[job_id].status == S.PENDING
                ],
                S.QUEUED,
                "waiting for a node",
            )
            self._index.newly_ready.clear()
            previews = self.progressive_renderer.process_pending_outputs(
                self._index.running_by_node.values(), self.progressive_output_config
            )
            busy = sum(1 for n in online if n.current_job_id is not None)
            utilization = 100.0 * busy / len(online) if online else 0.0
            self._record_cycle(utilization)
            result = {
                "jobs_scheduled": len(plan.assignments),
                "jobs_preempted": len(plan.preemptions),
                "resources_allocated": {
                    cid: a.allocated_percentage for cid, a in self.resource_allocations.items()
                },
                "energy_optimized_jobs": len(plan.deferred),
                "progressive_outputs": len(previews),
                "utilization_percentage": utilization,
            }
            self.audit_logger.log_scheduling_cycle(
                len(plan.assignments),
                utilization,
                jobs_preempted=len(plan.preemptions),
                jobs_deferred=len(plan.deferred),
                queue_length=len(self._index.queue),
                log_level=LogLevel.DEBUG,
            )
        self.performance_monitor.update_scheduling_cycle_time(
            _time.perf_counter() - started, len(plan.assignments)
        )
        return result

    def _produce_due_previews(self) -> dict[str, str]:
        return self.progressive_renderer.process_pending_outputs(
            list(self._index.running_by_node.values()), self.progressive_output_config
        )

    def process_due_previews(self) -> dict[str, str]:
        """Produce the previews due now for running jobs (also done by every cycle); returns
        job id → preview path."""
        with self._lock:
            return self._produce_due_previews()

    def _allocate(self, online_count: int, running: Counter[str], waiting: Counter[str]) -> None:
        for client_id in self.clients:
            demand = 100.0 * (running.get(client_id, 0) + waiting.get(client_id, 0)) / online_count
            self.resource_manager.update_client_demand(client_id, min(100.0, demand))
        self.resource_allocations = self.resource_manager.allocate_resources(
            self.clients.values(), self.nodes.values(), self._index.running_by_node.values()
        )
        for client_id, allocation in self.resource_allocations.items():
            self.performance_monitor.update_client_resource_metrics(
                client_id,
                allocation.allocated_percentage,
                100.0 * running.get(client_id, 0) / online_count,
                allocation.borrowed_percentage,
                allocation.lent_percentage,
            )

    def _record_cycle(self, utilization: float) -> None:
        self._cycles += 1
        self._utilization_total += utilization
        metrics = self.performance_metrics
        metrics.average_utilization_percentage = self._utilization_total / self._cycles
        metrics.average_node_idle_percentage = 100.0 - metrics.average_utilization_percentage

    # ------------------------------------------------------------------------------------------
    # Settings
    # ------------------------------------------------------------------------------------------

    def set_progressive_output_config(self, config: ProgressiveOutputConfig) -> None:
        with self._lock:
            self.progressive_output_config = config
            self.progressive_renderer.default_config = config
            self.audit_logger.log_event(
                "progressive_config_changed",
                "Progressive output configuration changed",
                config=config.model_dump(),
            )

    def set_energy_mode(self, mode: EnergyMode | str) -> None:
        with self._lock:
            new_mode = EnergyMode(mode)
            old_mode = self.energy_optimizer.set_energy_mode(new_mode)
            self._forecast = None
            self.audit_logger.log_energy_mode_changed(
                old_mode=old_mode.value, new_mode=new_mode.value
            )

    # ------------------------------------------------------------------------------------------
    # Reports
    # ------------------------------------------------------------------------------------------

    def forecast(self) -> dict[str, datetime]:
        """Expected finish time of every running and eligible waiting job (cached until the
        next state change)."""
        with self._lock:
            if self._forecast is None:
                self._forecast = self.scheduler.forecast(
                    queue=self._index.queue,
                    jobs=self.jobs,
                    nodes=self.nodes.values(),
                    running_by_node=self._index.running_by_node,
                    now=self.clock.now(),
                )
            return self._forecast

    def effective_priority(self, job_id: str) -> JobPriority | None:
        with self._lock:
            job = self._job(job_id)
            if job is None:
                return None
            return self.scheduler.effective_priority(job, self._index.inheritance, self.clock.now())

    def get_job_status(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._job(job_id)
            return None if job is None else status_reports.job_status(self, job)

    def get_client_status(self, client_id: str) -> dict[str, Any] | None:
        with self._lock:
            client = self.clients.get(client_id)
            return None if client is None else status_reports.client_status(self, client)

    def get_farm_status(self) -> dict[str, Any]:
        with self._lock:
            return status_reports.farm_status(self)

    def get_power_down_candidates(
        self, keep_awake: int = 1, ignore: set[str] | None = None
    ) -> list[dict[str, Any]]:
        """Idle nodes that could be powered down now, and when each must be awake again.
        Waiting jobs in ``ignore`` (e.g. those holding out for faster nodes) keep no node
        awake."""
        with self._lock:
            waiting = [
                self.jobs[j] for j in self._index.queue.ids() if ignore is None or j not in ignore
            ]
            advice = self.energy_optimizer.power_down_candidates(
                list(self.nodes.values()), waiting, self.clock.now(), keep_awake
            )
            return [
                {"node_id": a.node_id, "wake_by": a.wake_by, "reason": a.reason} for a in advice
            ]

    @property
    def queue_length(self) -> int:
        """Jobs eligible to run now and waiting for a node."""
        return len(self._index.queue)

    def waiting_by_client(self) -> dict[str, int]:
        """Eligible waiting jobs per client."""
        with self._lock:
            return dict(self._index.queue.waiting_by_client)

    def waiting_jobs(self) -> list[RenderJob]:
        """Eligible waiting jobs in the order the scheduler would take them now."""
        with self._lock:
            order = self._index.queue.in_order(
                self.clock.now().timestamp(), self.scheduler.margin_seconds
            )
            return [self.jobs[job_id] for job_id in order]
