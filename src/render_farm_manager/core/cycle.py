"""One scheduling cycle: decide (pure), then apply every decision as one change.

The quotas, the scheduler's plan, the previews due and the energy used are all worked out before
anything is written. The plan is then applied through the change path inside one transaction, so
a cycle is all or nothing: if any of its decisions turns out to be impossible (a scheduler that
puts two jobs on one node, say), it raises and none of it remains.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.change_path import ChangePath
from render_farm_manager.core.clock import hours_between
from render_farm_manager.core.errors import CyclePlanError
from render_farm_manager.core.farm_metrics import FarmMetrics
from render_farm_manager.core.job_changes import JobChanges
from render_farm_manager.core.models import (
    LogLevel,
    NodeStatus,
    ProgressiveOutputConfig,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    ResourceAllocation,
)
from render_farm_manager.node_specialization.fit import schedulable
from render_farm_manager.scheduling.limits import LimitBook
from render_farm_manager.scheduling.locality import Locality, Scene, scene_of

if TYPE_CHECKING:
    from render_farm_manager.core.interfaces import (
        EnergyOptimizerInterface,
        ProgressiveRendererInterface,
        ResourceManagerInterface,
        SchedulerInterface,
    )
    from render_farm_manager.scheduling.cycle_plan import CyclePlan, Preemption

S = RenderJobStatus


@dataclass
class CycleOutcome:
    plan: CyclePlan
    allocations: dict[str, ResourceAllocation]
    previews: int
    utilization: float
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The seed API's result of ``run_scheduling_cycle``."""
        return {
            "jobs_scheduled": len(self.plan.assignments),
            "jobs_preempted": len(self.plan.preemptions),
            "resources_allocated": {
                cid: a.allocated_percentage for cid, a in self.allocations.items()
            },
            "energy_optimized_jobs": len(self.plan.deferred),
            "progressive_outputs": self.previews,
            "utilization_percentage": self.utilization,
        }


class SchedulingCycle:
    def __init__(
        self,
        path: ChangePath,
        jobs: JobChanges,
        metrics: FarmMetrics,
        scheduler: SchedulerInterface,
        resource_manager: ResourceManagerInterface,
        energy: EnergyOptimizerInterface,
        previews: ProgressiveRendererInterface,
    ) -> None:
        self.path = path
        self.jobs = jobs
        self.metrics = metrics
        self.scheduler = scheduler
        self.resource_manager = resource_manager
        self.energy = energy
        self.previews = previews
        self.last_accounting: datetime | None = None
        self.deferred_since: dict[str, datetime] = {}
        """When each job now waiting for cheaper power was first held back."""
        self.warm: dict[str, Scene] = {}
        """Node id → the scene of the last task started there while it stayed online (stored
        as a farm document, so a restarted manager decides as one that never stopped)."""

    def run(self, preview_config: ProgressiveOutputConfig) -> CycleOutcome:
        """Decide, then apply inside the caller's change (``path.change()``)."""
        path = self.path
        now = path.now()
        index = path.index
        index.flush()
        nodes = list(path.nodes.values())
        quotas = self.resource_manager.quota_book(
            path.clients.values(),
            sum(1 for node in nodes if schedulable(node)),
            Counter(job.client_id for job in index.running_by_node.values()),
            self._demand(),
        )
        plan = self.scheduler.plan_cycle(
            queue=index.queue,
            jobs=path.jobs,
            nodes=nodes,
            running_by_node=index.running_by_node,
            now=now,
            inheritance=index.inheritance,
            quotas=quotas,
            energy=self.energy,
            reclaim_by_preemption=self.resource_manager.reclaim_by_preemption,
            reclaim_grace_minutes=self.resource_manager.reclaim_grace_minutes,
            limits=self.limit_book(),
            locality=self._locality(),
        )
        self._within_limits(plan)
        preempted = {p.victim_job_id for p in plan.preemptions}
        staying = [j for j in index.running_by_node.values() if j.id not in preempted]
        due = self.previews.due_outputs(staying, preview_config, now)  # type: ignore[arg-type]
        used = (0.0, 0.0)
        if self.last_accounting is not None and now > self.last_accounting:
            used = self.energy.measure_usage(nodes, self.last_accounting, now)

        # -- apply -----------------------------------------------------------------------------
        self._account_energy(now, used)
        for preemption in plan.preemptions:
            self._preempt(preemption)
        reasons = {
            p.for_job_id: f"preempted {p.victim_job_id} ({p.reason})" for p in plan.preemptions
        }
        for job_id, node_id in plan.assignments.items():
            self._start(job_id, node_id, now, reasons.get(job_id, "scheduled"))
        self._hold_for_cheaper_power(plan, now)
        newly_ready = [
            path.jobs[job_id]
            for job_id in sorted(index.newly_ready, key=index.queue.sequence_of)
            if path.jobs[job_id].status == S.PENDING
        ]
        path.move(newly_ready, S.QUEUED, "waiting for a node")
        index.newly_ready.clear()
        self.record_previews(due, now)
        online = [n for n in nodes if n.status == NodeStatus.ONLINE]
        busy = sum(1 for n in online if n.current_job_id is not None)
        utilization = 100.0 * busy / len(online) if online else 0.0
        self.metrics.cycle(utilization)
        # The same quotas, reported on the nodes the clients run on now: the demand (running
        # and waiting) is what it was, so the counts are those the scheduler just enforced.
        allocations = self._allocations(nodes)
        running_now = Counter(job.client_id for job in index.running_by_node.values())
        self._report_allocations(allocations, running_now, len(online))
        path.log(
            "log_scheduling_cycle",
            len(plan.assignments),
            utilization,
            jobs_preempted=len(plan.preemptions),
            jobs_deferred=len(plan.deferred),
            queue_length=len(index.queue),
            log_level=LogLevel.DEBUG,
        )
        return CycleOutcome(plan, allocations, len(due), utilization)

    def _locality(self) -> Locality:
        """Which scene each node holds; a node that left (asleep, failed, in maintenance)
        holds none."""
        warm, nodes = self.warm, self.path.nodes
        gone = [
            node_id
            for node_id in warm
            if (node := nodes.get(node_id)) is None or node.status != NodeStatus.ONLINE
        ]
        for node_id in gone:
            self.path.tx.pop_item(warm, node_id)
        return Locality(warm, self._waiting_of)

    def _waiting_of(self, scene: Scene) -> Iterator[RenderJob]:
        """The scene's queued tasks, in the shot's task order."""
        shots = self.jobs.shots
        if shots is None:
            return
        shot_id, step = scene
        queue, jobs = self.path.index.queue, self.path.jobs
        for task_id in shots.tasks.get(shot_id, ()):
            if task_id in queue:
                task = jobs[task_id]
                if getattr(task, "step", None) == step:
                    yield task

    def limit_book(self) -> LimitBook:
        """Counted resources and machine limits as the running work holds them now."""
        return LimitBook(self.path.limits, self.path.index.running_by_node.values())

    def _within_limits(self, plan: CyclePlan) -> None:
        """Whatever the scheduler decided, placement never exceeds a limit: placements that
        would are dropped (the work waits for the next cycle)."""
        book = self.limit_book()
        preempted = {p.victim_job_id for p in plan.preemptions}
        for job_id in preempted:  # what a preempted task held is given back
            victim = self.path.jobs.get(job_id)
            if victim is not None:
                book.release(victim)
        for job_id in list(plan.assignments):
            job = self.path.jobs.get(job_id)
            if job is None:
                continue
            if book.may_start(job):
                book.started(job)
            else:
                del plan.assignments[job_id]

    def _allocations(self, nodes: list[RenderNode]) -> dict[str, ResourceAllocation]:
        """The allocation reported for the quotas, on the nodes each client runs on."""
        index = self.path.index
        running: Counter[str] = Counter()
        running_nodes: dict[str, list[str]] = {}
        for node_id, job in index.running_by_node.items():
            running[job.client_id] += 1
            running_nodes.setdefault(job.client_id, []).append(node_id)
        _, allocations = self.resource_manager.plan_quotas(
            self.path.clients.values(), nodes, running, self._demand(), running_nodes
        )
        return allocations

    def _demand(self) -> dict[str, int]:
        """Waiting work per client that wants a node now: work held back for cheaper power
        does not, so a client's idle guarantee is lent meanwhile (and reclaimed when the
        work is due)."""
        queue = self.path.index.queue
        waiting = queue.waiting_by_client
        if not self.deferred_since:
            return dict(waiting)
        held = Counter(
            self.path.jobs[job_id].client_id for job_id in self.deferred_since if job_id in queue
        )
        return {c: n - held[c] for c, n in waiting.items() if n > held[c]}

    def record_previews(self, due: list[tuple[RenderJob, int]], now: datetime) -> None:
        """The previews due are produced when the change commits; each job records when."""
        for job, quality in due:
            self.path.write(job, "last_progressive_output_time", now)
            self.path.tx.after_commit(
                partial(self.previews.generate_progressive_output, job, quality)
            )

    # -- steps ---------------------------------------------------------------------------------

    def _account_energy(self, now: datetime, used: tuple[float, float]) -> None:
        path = self.path
        last = self.last_accounting
        path.tx.set_attr(self, "last_accounting", now)
        if last is None or now <= last:
            return
        kwh, cost = used
        hours = hours_between(last, now)
        for node in path.nodes.values():
            if node.status == NodeStatus.ONLINE:
                path.write(node, "uptime_hours", min(node.uptime_hours + hours, 1e6))
        energy = self.energy
        self.metrics.energy_used(energy.total_kwh + kwh)
        path.tx.after_commit(lambda: energy.add_usage(kwh, cost, last))

    def _preempt(self, preemption: Preemption) -> None:
        path = self.path
        victim = path.jobs.get(preemption.victim_job_id)
        if (
            victim is None
            or victim.status != S.RUNNING
            or victim.assigned_node_id != preemption.node_id
        ):
            raise CyclePlanError(
                f"the scheduler planned to preempt job {preemption.victim_job_id!r} on node "
                f"{preemption.node_id!r}, which does not run it; nothing of the cycle was applied"
            )
        if not victim.can_be_preempted or victim.emergency:
            raise CyclePlanError(
                f"the scheduler planned to preempt job {victim.id!r}, which may not be "
                "preempted; nothing of the cycle was applied"
            )
        self.jobs.requeue(
            victim,
            f"preempted ({preemption.reason}) for job {preemption.for_job_id}",
            keep_progress=True,
        )
        self.metrics.preemption()
        path.log(
            "log_event",
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

    def _start(self, job_id: str, node_id: str, now: datetime, reason: str) -> None:
        path = self.path
        job, node = path.jobs.get(job_id), path.nodes.get(node_id)
        if job is None or node is None:
            raise CyclePlanError(
                f"the scheduler placed job {job_id!r} on node {node_id!r}, and one of them does "
                "not exist; nothing of the cycle was applied"
            )
        self.jobs.start(job, node, reason)
        scene = scene_of(job)
        if scene is not None:
            path.tx.set_item(self.warm, node_id, scene)
        else:  # a job of its own loads its scene over whatever the node held
            path.tx.pop_item(self.warm, node_id)
        since = self.deferred_since.get(job_id)
        if since is not None:
            path.tx.pop_item(self.deferred_since, job_id)
            saved = self.energy.calculate_energy_cost(job, node, since) - (
                self.energy.calculate_energy_cost(job, node, now)
            )
            if saved > 0:
                path.measure("update_energy_cost_saved", saved)

    def _hold_for_cheaper_power(self, plan: CyclePlan, now: datetime) -> None:
        tx, jobs = self.path.tx, self.path.jobs
        for job_id in list(self.deferred_since):
            if job_id not in plan.deferred and jobs[job_id].status not in (S.PENDING, S.QUEUED):
                tx.pop_item(self.deferred_since, job_id)
        for job_id in plan.deferred:
            if job_id not in self.deferred_since:
                tx.set_item(self.deferred_since, job_id, now)

    def _report_allocations(
        self,
        allocations: dict[str, ResourceAllocation],
        running: Counter[str],
        online: int,
    ) -> None:
        path = self.path
        path.tx.after_commit(lambda: self.resource_manager.remember(allocations))
        for client_id, allocation in allocations.items():
            path.measure(
                "update_client_resource_metrics",
                client_id,
                allocation.allocated_percentage,
                100.0 * running.get(client_id, 0) / online if online else 0.0,
                allocation.borrowed_percentage,
                allocation.lent_percentage,
            )
