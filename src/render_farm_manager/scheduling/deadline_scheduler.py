"""Deadline-driven scheduling: effective priority, slack ordering, deadline prediction and
preemption. The component wraps the pure decision core (:mod:`.dispatch`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from render_farm_manager.core.clock import Clock, as_clock
from render_farm_manager.core.interfaces import (
    AuditLoggerInterface,
    EnergyOptimizerInterface,
    NodeSpecializerInterface,
    PerformanceMonitorInterface,
    SchedulerInterface,
)
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    MAX_HOURS,
    PRIORITY_RANK,
    JobPriority,
    NodeStatus,
    RenderJob,
    RenderJobStatus,
    RenderNode,
)
from render_farm_manager.core.validation import setting, whole_number
from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.node_specialization.fit import hardware_misfit
from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)
from render_farm_manager.resource_management.quota_book import QuotaBook
from render_farm_manager.scheduling.cycle_plan import CycleInputs, CyclePlan
from render_farm_manager.scheduling.dispatch import plan_cycle
from render_farm_manager.scheduling.forecast import forecast_finish_times
from render_farm_manager.scheduling.inheritance import InheritanceIndex
from render_farm_manager.scheduling.limits import LimitBook
from render_farm_manager.scheduling.locality import Locality
from render_farm_manager.scheduling.node_pools import build_pools
from render_farm_manager.scheduling.pool_ranking import PoolRanker
from render_farm_manager.scheduling.priority import (
    MAX_BASE_RANK,
    effective_rank,
    is_at_risk,
    own_latest_start,
    own_rank,
)
from render_farm_manager.scheduling.ready_queue import ReadyQueue
from render_farm_manager.scheduling.scarce import ScarceGuard


class DeadlineScheduler(SchedulerInterface):
    """Orders waiting work by effective priority then least slack, places it with the node
    matcher, and preempts for work that would otherwise miss its deadline.

    ``deadline_safety_margin_hours`` is the slack below which a job counts as at risk: it is
    scheduled at the critical level and may preempt lower-level preemptible work.
    ``max_discard_ratio`` is what a deadline rescue may cost: the hours of running work a
    preemption throws away (none for work that checkpoints) per hour of work it saves.
    ``starvation_hours``: work that has waited this long since its submission is served, one
    unit a cycle, right after the work at risk, whatever its priority (None: never), so a
    sustained flood of higher-priority work with time to spare cannot hold it back for good.
    ``keep_scenes_warm``: a node that holds a shot's scene takes that shot's next task when
    that costs nobody anything, and work goes to a node holding its scene when one is free
    (:mod:`.locality`), so fewer tasks load their scene first.
    ``protect_scarce_nodes``: GPU nodes and large-memory nodes (``large_memory_gb`` or more;
    by default twice the farm's median memory) are kept for queued work that needs them;
    other work takes one only while more are free than such work waits, or when it is
    pressing (:mod:`.scarce`).
    """

    node_specializer: NodeSpecializerInterface

    def __init__(
        self,
        audit_logger: AuditLoggerInterface | None = None,
        performance_monitor: PerformanceMonitorInterface | None = None,
        deadline_safety_margin_hours: float = 2.0,
        enable_preemption: bool = True,
        max_preemptions_per_cycle: int = 32,
        preemption_scan_limit: int = 512,
        clock: Clock | Callable[[], datetime] | None = None,
        node_specializer: NodeSpecializerInterface | None = None,
        place_by_earliest_finish: bool = True,
        max_discard_ratio: float = 1.0,
        starvation_hours: float | None = 24.0,
        keep_scenes_warm: bool = True,
        protect_scarce_nodes: bool = True,
        large_memory_gb: float | None = None,
    ) -> None:
        self.audit_logger = audit_logger
        self.performance_monitor = performance_monitor
        self.deadline_safety_margin_hours = setting(
            deadline_safety_margin_hours, "deadline_safety_margin_hours", maximum=MAX_HOURS
        )
        self.enable_preemption = enable_preemption
        self.max_preemptions_per_cycle = whole_number(
            max_preemptions_per_cycle, "max_preemptions_per_cycle", minimum=0
        )
        self.preemption_scan_limit = whole_number(preemption_scan_limit, "preemption_scan_limit")
        self.clock = as_clock(clock)
        self.place_by_earliest_finish = place_by_earliest_finish
        self.keep_scenes_warm = keep_scenes_warm
        self.protect_scarce_nodes = protect_scarce_nodes
        self.large_memory_gb = (
            None
            if large_memory_gb is None
            else setting(large_memory_gb, "large_memory_gb", above_minimum=True)
        )
        self.max_discard_ratio = setting(max_discard_ratio, "max_discard_ratio")
        self.starvation_hours = (
            None
            if starvation_hours is None
            else setting(
                starvation_hours, "starvation_hours", maximum=MAX_HOURS, above_minimum=True
            )
        )
        if node_specializer is None:
            node_specializer = NodeSpecializationManager(audit_logger, performance_monitor)
        self.node_specializer = node_specializer

    def _starving(self, now_ts: float) -> tuple[float | None]:
        """The starvation guard's cut-off: work waiting since before it is starving."""
        hours = self.starvation_hours
        return (None if hours is None else now_ts - hours * 3600.0,)

    @property
    def _judges_every_node(self) -> bool:
        """A matcher other than the shipped one is asked about each node, not each kind."""
        return not isinstance(self.node_specializer, NodeSpecializationManager)

    # -- the cycle -----------------------------------------------------------------------------

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
        """Decide one cycle: pure, reads only its arguments."""
        inheritance = inheritance if inheritance is not None else InheritanceIndex()
        matcher = self.node_specializer
        energy_weight = energy.energy_weight if energy else 0.0
        pools = build_pools(
            nodes, one_per_node=self._judges_every_node, prefer_efficient=energy_weight > 0
        )
        ranker = PoolRanker(pools, matcher, energy_weight)
        now_ts = now.timestamp()
        margin = self.margin_seconds

        def rank_of(job: UnitOfWork) -> int:
            rank, latest = inheritance.rank_and_latest_start(job)
            return effective_rank(rank, latest, now_ts, margin)

        def latest_start_of(job: UnitOfWork) -> float:
            return inheritance.rank_and_latest_start(job)[1]

        (starving_since,) = self._starving(now_ts)

        def starving(job: UnitOfWork) -> bool:
            position = queue.position(job.id)
            since = position.since if position is not None else None
            return starving_since is not None and since is not None and since <= starving_since

        deferral = None
        if energy is not None:

            def deferral(job: UnitOfWork, at: datetime, ahead_hours: float) -> datetime | None:
                return energy.deferral_until(
                    job,
                    at,
                    queue_wait_hours=ahead_hours,
                    margin_hours=self.deadline_safety_margin_hours,
                )

        inputs = CycleInputs(
            order=(
                jobs[job_id] for job_id in queue.in_order(now_ts, margin, *self._starving(now_ts))
            ),
            pools=pools,
            ranker=ranker,
            now=now,
            margin_seconds=margin,
            rank_of=rank_of,
            latest_start_of=latest_start_of,
            starving=starving,
            quotas=quotas,
            limits=limits,
            deferral=deferral,
            running_by_node=running_by_node,
            speed_of=lambda job, pool: matcher.class_speed(pool.hardware_class, job.job_type),
            hours_left=matcher.expected_hours,
            discard_ratio=self.max_discard_ratio,
            preemption_enabled=self.enable_preemption,
            reclaim_enabled=self.enable_preemption and reclaim_by_preemption,
            reclaim_grace_seconds=reclaim_grace_minutes * 60.0,
            earliest_finish=self.place_by_earliest_finish,
            queued_hours=queue.total_hours,
            max_preemptions=self.max_preemptions_per_cycle,
            scan_limit=self.preemption_scan_limit,
            locality=locality if self.keep_scenes_warm else None,
            scarce=(
                ScarceGuard(pools, queue, self.large_memory_gb)
                if self.protect_scarce_nodes
                else None
            ),
        )
        return plan_cycle(inputs)

    def forecast(
        self,
        *,
        queue: ReadyQueue,
        jobs: Mapping[str, UnitOfWork],
        nodes: Iterable[RenderNode],
        running_by_node: Mapping[str, UnitOfWork],
        now: datetime,
    ) -> dict[str, datetime]:
        """Expected finish time of every running and eligible waiting job."""
        ranker = PoolRanker(
            build_pools(nodes, one_per_node=self._judges_every_node), self.node_specializer
        )
        now_ts = now.timestamp()
        ids = queue.in_order(now_ts, self.margin_seconds, *self._starving(now_ts))
        order = (jobs[job_id] for job_id in ids)
        return forecast_finish_times(
            order, ranker, running_by_node, now, self.node_specializer.expected_hours
        )

    # -- the seed API --------------------------------------------------------------------------

    def schedule_jobs(self, jobs: list[RenderJob], nodes: list[RenderNode]) -> dict[str, str]:
        """New assignments (job id → node id) for the waiting jobs among ``jobs`` whose
        dependencies (within ``jobs``) are completed. Nothing is changed; applying the result is
        the caller's job."""
        by_id = {job.id: job for job in jobs}
        inheritance = InheritanceIndex()
        for job in jobs:
            if job.status not in FINISHED_STATUSES:
                inheritance.link(job)
        inheritance.flush(by_id)
        queue = ReadyQueue()
        for job in jobs:
            if job.status not in (RenderJobStatus.PENDING, RenderJobStatus.QUEUED):
                continue
            if any(
                by_id[d].status != RenderJobStatus.COMPLETED for d in job.dependencies if d in by_id
            ):
                continue
            rank, latest = inheritance.rank_and_latest_start(job)
            queue.put(
                job.id,
                job.client_id,
                rank,
                latest,
                gpu=job.requires_gpu,
                memory_gb=job.memory_requirements_gb,
            )
        running = {
            j.assigned_node_id: j
            for j in jobs
            if j.status == RenderJobStatus.RUNNING and j.assigned_node_id
        }
        plan = self.plan_cycle(
            queue=queue,
            jobs=by_id,
            nodes=nodes,
            running_by_node=running,
            now=self.clock.now(),
            inheritance=inheritance,
        )
        preempting = {p.for_job_id for p in plan.preemptions}
        return {
            job_id: node_id
            for job_id, node_id in plan.assignments.items()
            if job_id not in preempting
        }

    def effective_priority(
        self,
        job: UnitOfWork,
        inheritance: InheritanceIndex | None = None,
        now: datetime | None = None,
    ) -> JobPriority:
        """The priority the job is scheduled at now (emergencies report as critical)."""
        index = inheritance if inheritance is not None else InheritanceIndex()
        rank, latest = index.rank_and_latest_start(job)
        now_ts = (now or self.clock.now()).timestamp()
        return JobPriority.from_rank(
            min(MAX_BASE_RANK, effective_rank(rank, latest, now_ts, self.margin_seconds))
        )

    def update_priorities(self, jobs: list[RenderJob]) -> list[RenderJob]:
        """Raise the stored priority of unfinished jobs whose slack has shrunk: one level below
        the safety margin, two below a quarter of it (late jobs included), never above critical.
        Returns every job given, with its current priority. A job a manager holds changes
        through that manager (audited and re-queued there)."""
        now_ts = self.clock.now().timestamp()
        margin = self.margin_seconds
        for job in jobs:
            if job.status in FINISHED_STATUSES:
                continue
            slack = own_latest_start(job) - now_ts
            bump = 2 if slack < margin / 4 else 1 if slack < margin else 0
            current = PRIORITY_RANK[JobPriority(job.priority)]
            new = min(MAX_BASE_RANK, current + bump)
            if new == current:
                continue
            old_priority = JobPriority(job.priority)
            job.priority = JobPriority.from_rank(new)
            if self.audit_logger is not None and job.holder() is None:
                self.audit_logger.log_job_updated(
                    job.id,
                    job.client_id,
                    job.name,
                    old_priority.value,
                    job.priority.value,
                    reason="deadline approaching",
                    slack_hours=round(slack / 3600.0, 3),
                )
        return list(jobs)

    def can_meet_deadline(
        self,
        job: UnitOfWork,
        nodes: list[RenderNode],
        running_jobs: Mapping[str, UnitOfWork] | None = None,
    ) -> bool:
        """Could ``job`` finish by its deadline on one of ``nodes``? A free fitting node starts
        it now; otherwise it waits for the soonest fitting node to finish its job (known from
        ``running_jobs`` by id, else assumed to take its whole estimate)."""
        now = self.clock.now()
        best: datetime | None = None
        for node in nodes:
            if node.status != NodeStatus.ONLINE or hardware_misfit(job, node.capabilities):
                continue
            start = now
            if node.current_job_id is not None:
                current = (running_jobs or {}).get(node.current_job_id)
                wait = (
                    self.node_specializer.expected_hours(current, node)
                    if current is not None
                    else remaining_hours(job)
                )
                start = now + timedelta(hours=wait)
            finish = start + timedelta(hours=self.node_specializer.expected_hours(job, node))
            if best is None or finish < best:
                best = finish
        return best is not None and best <= job.deadline

    def should_preempt(self, running_job: UnitOfWork, pending_job: UnitOfWork) -> bool:
        """Would ``pending_job`` take ``running_job``'s node? Only with preemption enabled, never
        from a job with ``can_be_preempted=False`` or an emergency, and only for an emergency or
        for a higher-level job at risk of missing its deadline (not one already late)."""
        if not self.enable_preemption or not running_job.can_be_preempted:
            return False
        if running_job.emergency:
            return False
        if pending_job.emergency:
            return True
        now_ts = self.clock.now().timestamp()
        margin = self.margin_seconds
        pending_latest = own_latest_start(pending_job)
        pending_rank = effective_rank(own_rank(pending_job), pending_latest, now_ts, margin)
        running_rank = effective_rank(
            own_rank(running_job), own_latest_start(running_job), now_ts, margin
        )
        return pending_rank > running_rank and is_at_risk(pending_latest, now_ts, margin)
