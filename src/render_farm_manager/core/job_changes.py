"""Everything that can happen to a job, as steps of the change path.

Each operation checks everything it needs before it writes anything, then writes through the
change path (which records the old values, audits and indexes). Operations raise the project's
errors; the manager facade turns the seed API's documented cases into ``False``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.change_path import ChangePath
from render_farm_manager.core.clock import hours_between
from render_farm_manager.core.errors import (
    DependencyCycleError,
    DuplicateIdError,
    IllegalTransitionError,
    InvalidInputError,
    JobFinishedError,
    JobNotReadyError,
    NodeUnavailableError,
    UnknownClientError,
)
from render_farm_manager.core.farm_metrics import FarmMetrics
from render_farm_manager.core.lifecycle import check_transition
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    WAITING_STATUSES,
    JobPriority,
    LogLevel,
    NodeStatus,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    RenderTask,
)
from render_farm_manager.core.placement_checks import PlacementChecks
from render_farm_manager.core.validation import finite_number, positive_hours
from render_farm_manager.node_specialization.fit import availability_misfit, hardware_misfit

if TYPE_CHECKING:
    from render_farm_manager.core.interfaces import (
        NodeSpecializerInterface,
        ProgressiveRendererInterface,
    )
    from render_farm_manager.core.shots import ShotChanges

S = RenderJobStatus
_PRIORITY_VALUES: dict[str, str] = {priority: priority.value for priority in JobPriority}
"""A priority (member or value) -> its value, without an enum call per submission."""
MIN_LEARNABLE_SHARE = 0.01
"""A render reported faster than 1% of its estimate is a reporting artefact, not a speed."""


class JobChanges:
    def __init__(
        self,
        path: ChangePath,
        metrics: FarmMetrics,
        matcher: NodeSpecializerInterface,
        previews: ProgressiveRendererInterface,
        placement: PlacementChecks,
    ) -> None:
        self.path = path
        self.metrics = metrics
        self.matcher = matcher
        self.previews = previews
        self.placement = placement
        self.progress_at_start: dict[str, float] = {}
        self.shots: ShotChanges | None = None
        """Set by the manager: operations on a shot go to its tasks."""

    def _shots(self, job: RenderJob) -> ShotChanges | None:
        return self.shots if job.is_shot else None

    # -- shared checks -------------------------------------------------------------------------

    def _unfinished(self, job: RenderJob, change: str) -> None:
        if job.status in FINISHED_STATUSES:
            raise JobFinishedError(job.id, RenderJobStatus(job.status).value, change)

    def closes_cycle(self, job: RenderJob, dependencies: list[str] | None = None) -> list[str]:
        """The dependency path back to ``job`` if it depended on ``dependencies`` (its own by
        default), else an empty list. Only a job that others already wait on can close a
        cycle, so the common case costs nothing."""
        deps = job.dependencies if dependencies is None else dependencies
        if job.id in deps:
            return [job.id, job.id]
        if not self.path.index.inheritance.dependents.get(job.id):
            return []
        stack: list[tuple[str, list[str]]] = [(d, [job.id, d]) for d in deps]
        seen: set[str] = set()
        while stack:
            current, route = stack.pop()
            if current == job.id:
                return route
            if current in seen:
                continue
            seen.add(current)
            parent = self.path.jobs.get(current)
            if parent is not None:
                stack.extend((d, [*route, d]) for d in parent.dependencies)
        return []

    def start_problem(self, job: RenderJob, node: RenderNode) -> Exception | None:
        """Why ``job`` cannot start on ``node`` now, as the error to raise, or None."""
        status = RenderJobStatus(job.status)
        if status not in WAITING_STATUSES:
            return IllegalTransitionError(job.id, status.value, S.RUNNING.value)
        unmet = self.path.index.unmet_dependencies(job)
        if unmet:
            return JobNotReadyError(job.id, unmet)
        reason = availability_misfit(job, node) or hardware_misfit(job, node.capabilities)
        if reason is not None:
            return NodeUnavailableError(job.id, node.id, reason)
        return None

    # -- submission ----------------------------------------------------------------------------

    def submit(self, job: RenderJob, emergency: bool = False) -> None:
        path = self.path
        if job.id in path.jobs:
            raise DuplicateIdError("job", job.id)
        if job.client_id not in path.clients:
            raise UnknownClientError(job.client_id)
        if job.status not in WAITING_STATUSES:
            raise IllegalTransitionError(job.id, RenderJobStatus(job.status).value, "pending")
        if isinstance(job, RenderTask):
            raise InvalidInputError(
                f"{job.id!r} is a task of a shot; submit the shot (a job with frames)",
                field="job",
                object_id=job.id,
            )
        now = path.now()
        if job.submission_time is not None and job.submission_time > now:
            raise InvalidInputError(
                f"job {job.id!r} has submission_time {job.submission_time:%Y-%m-%d %H:%M}, "
                f"after the farm's time {now:%Y-%m-%d %H:%M}; leave it unset to use now",
                field="submission_time",
                object_id=job.id,
            )
        path.hold(job)
        if emergency:
            path.write(job, "emergency", True)
            path.write(job, "priority", JobPriority.CRITICAL)
        if job.status is not S.PENDING:  # (most jobs arrive pending: nothing to write)
            path.write(job, "status", S.PENDING)
        if job.submission_time is None:
            path.write(job, "submission_time", now)
        path.tx.set_item(path.jobs, job.id, job)
        priority = _PRIORITY_VALUES.get(job.priority) or JobPriority(job.priority).value
        path.log(
            "log_job_submitted",
            job.id,
            job.client_id,
            job.name,
            priority,
            emergency=job.emergency,
        )
        cycle = self.closes_cycle(job)
        if cycle:
            self.fail(job, "circular dependency: " + " -> ".join(cycle))
            return
        path.index.inheritance.link(job)
        shots = self.shots if job.is_shot else None
        if shots is not None:
            shots.expand(job)
        else:
            self.placement.check_feasibility(job, now)
        path.reindex(job)
        path.index.settle_dependents(job)

    # -- running -------------------------------------------------------------------------------

    def start(self, job: RenderJob, node: RenderNode, reason: str = "scheduled") -> None:
        shots = self._shots(job)
        if shots is not None:
            shots.refuse(job, "starting on a node")
        problem = self.start_problem(job, node)
        if problem is not None:
            raise problem
        path = self.path
        now = path.now()
        path.write(job, "assigned_node_id", node.id)
        path.write(node, "current_job_id", job.id)
        path.write(job, "started_at", now)
        path.write(job, "progress_reported_at", now)
        path.tx.set_item(self.progress_at_start, job.id, job.progress)
        path.tx.set_item(path.index.running_by_node, node.id, job)
        if job.supports_progressive_output:
            expected = self.matcher.expected_hours(job, node)
            path.tx.after_commit(lambda: self.previews.job_started(job, expected))
        path.measure("update_node_utilization", node.id, 100.0)
        path.move([job], S.RUNNING, reason)
        path.log(
            "log_job_scheduled", job.id, node.id, job.client_id, JobPriority(job.priority).value
        )

    def release_node(self, job: RenderJob) -> RenderNode | None:
        """Free the node running ``job`` (a draining node then goes to maintenance)."""
        path = self.path
        node = path.nodes.get(job.assigned_node_id or "")
        if node is None or node.current_job_id != job.id:
            return None
        path.write(node, "current_job_id", None)
        path.tx.pop_item(path.index.running_by_node, node.id)
        path.measure("update_node_utilization", node.id, 0.0)
        if node.draining:
            path.write(node, "draining", False)
            old = NodeStatus(node.status).value
            path.write(node, "status", NodeStatus.MAINTENANCE)
            path.nodes_changed()
            path.log("log_node_updated", node.id, node.name, old, "maintenance", reason="drained")
        return node

    def requeue(self, job: RenderJob, reason: str, keep_progress: bool) -> None:
        """Running work goes back to the queue; progress survives only with a checkpoint (and
        the frames a task completed always do)."""
        shots = self._shots(job)
        if shots is not None:
            shots.requeue(job, reason)
            return
        self.release_node(job)
        self.path.write(job, "assigned_node_id", None)
        kept = job.kept_progress()
        lost = not (keep_progress and job.supports_checkpoint) and job.progress > kept
        if lost:
            self.path.write(job, "progress", kept)
        self.path.move([job], S.QUEUED, reason)
        if lost:
            self.path.reindex(job)  # more work left: its parents' deadlines move

    def _after_finish(self, job: RenderJob) -> None:
        self.path.tx.pop_item(self.progress_at_start, job.id)
        self.path.tx.after_commit(lambda: self.previews.forget(job.id))

    def fail(self, job: RenderJob, reason: str) -> None:
        shots = self._shots(job)
        if shots is not None:
            shots.fail(job, reason)
            return
        check_transition(job.id, job.status, S.FAILED)
        self.release_node(job)
        self.path.write(job, "failure_reason", reason)
        self.path.move([job], S.FAILED, reason)
        self.path.log(
            "log_job_failed", job.id, job.client_id, job.name, reason, error_count=job.error_count
        )
        self._after_finish(job)

    def cancel(self, job: RenderJob) -> None:
        shots = self._shots(job)
        if shots is not None:
            shots.cancel(job)
            return
        check_transition(job.id, job.status, S.CANCELLED)
        self.release_node(job)
        self.path.move([job], S.CANCELLED, "cancelled")
        self._after_finish(job)

    def complete(self, job: RenderJob, render_time_hours: float | None = None) -> None:
        shots = self._shots(job)
        if shots is not None:
            shots.refuse(job, "completion")
        check_transition(job.id, job.status, S.COMPLETED)
        if render_time_hours is not None:
            render_time_hours = positive_hours(render_time_hours, "render_time_hours", job.id)
        path = self.path
        now = path.now()
        node = self.release_node(job)
        self._learn(job, node, now, render_time_hours)
        path.write(job, "progress", 100.0)
        path.write(job, "completed_at", now)
        path.move([job], S.COMPLETED, "completed")
        turnaround = self.metrics.job_completed(job, now)
        path.measure("update_job_turnaround_time", job.id, turnaround)
        path.log(
            "log_job_completed",
            job.id,
            job.client_id,
            job.name,
            now,
            on_time=now <= job.deadline,
            turnaround_hours=round(turnaround, 4),
        )
        self._after_finish(job)

    def _learn(
        self, job: RenderJob, node: RenderNode | None, now: datetime, render_time: float | None
    ) -> None:
        if node is None or job.started_at is None:
            return
        share = (100.0 - self.progress_at_start.get(job.id, 0.0)) / 100.0
        if share <= 0:
            return
        observed = render_time if render_time is not None else hours_between(job.started_at, now)
        if observed < MIN_LEARNABLE_SHARE * job.estimated_duration_hours * share:
            return
        matcher = self.matcher
        metrics = {"render_time_hours": observed, "work_fraction": share}
        self.path.tx.after_commit(lambda: matcher.update_performance_history(job, node, metrics))

    def pause(self, job: RenderJob, reason: str = "paused") -> None:
        shots = self._shots(job)
        if shots is not None:
            shots.pause(job)
            return
        check_transition(job.id, job.status, S.PAUSED)
        self.release_node(job)
        kept = job.kept_progress()
        if not job.supports_checkpoint and job.progress > kept:
            self.path.write(job, "progress", kept)
            self.path.index.inheritance.mark(job.id)
        self.path.write(job, "assigned_node_id", None)
        self.path.move([job], S.PAUSED, reason)

    def resume(self, job: RenderJob) -> None:
        shots = self._shots(job)
        if shots is not None:
            shots.resume(job)
            return
        if job.status != S.PAUSED:
            raise IllegalTransitionError(job.id, RenderJobStatus(job.status).value, "queued")
        self.path.move([job], S.QUEUED, "resumed")

    def retry(self, job: RenderJob) -> None:
        """A failed job goes back to the queue with a clean error count."""
        shots = self._shots(job)
        if shots is not None:
            shots.retry(job)
            return
        if job.status != S.FAILED:
            raise IllegalTransitionError(job.id, RenderJobStatus(job.status).value, "queued")
        if job.client_id not in self.path.clients:
            raise UnknownClientError(job.client_id)
        cycle = self.closes_cycle(job)
        if cycle:
            raise DependencyCycleError(job.id, cycle)
        path = self.path
        path.write(job, "error_count", 0)
        path.write(job, "failure_reason", None)
        path.write(job, "assigned_node_id", None)
        path.index.inheritance.link(job)
        path.move([job], S.QUEUED, "retried by operator")

    # -- values --------------------------------------------------------------------------------

    def set_priority(self, job: RenderJob, priority: JobPriority, reason: str = "") -> None:
        shots = self._shots(job)
        if shots is not None:
            shots.set_priority(job, priority, reason)
            return
        self._unfinished(job, "priority")
        old = JobPriority(job.priority)
        if old == priority:
            return
        self.path.write(job, "priority", priority)
        self.path.reindex(job)
        details: dict[str, Any] = {"reason": reason} if reason else {}
        self.path.log(
            "log_job_updated", job.id, job.client_id, job.name, old.value, priority.value, **details
        )

    def set_progress(self, job: RenderJob, progress: float) -> None:
        """Record progress (clamped to 0-100); 100 completes the job. For a running job that
        checkpoints, each report is a checkpoint."""
        shots = self._shots(job)
        if shots is not None:
            shots.refuse(job, "progress")
        self._unfinished(job, "progress")
        progress = max(0.0, min(100.0, finite_number(progress, "progress", job.id)))
        progress = max(progress, job.kept_progress())  # a task's rendered frames stay done
        if progress >= 100.0:
            self.complete(job)
            return
        path = self.path
        old = job.progress
        path.write(job, "progress", progress)
        if job.status == S.RUNNING:
            path.write(job, "progress_reported_at", path.now())
            if job.supports_checkpoint:
                path.write(job, "last_checkpoint_time", path.now())
        path.reindex(job)
        path.log(
            "log_event",
            "job_progress",
            f"Job {job.id} progress {old:g}% -> {progress:g}%",
            job_id=job.id,
            client_id=job.client_id,
            node_id=job.assigned_node_id,
            old_progress=old,
            new_progress=progress,
            log_level=LogLevel.DEBUG,
        )

    def set_dependencies(self, job: RenderJob, dependencies: list[str]) -> None:
        status = RenderJobStatus(job.status)
        if status not in (*WAITING_STATUSES, S.PAUSED):
            raise IllegalTransitionError(
                job.id, status.value, f"{status.value} with other dependencies"
            )
        cycle = self.closes_cycle(job, dependencies)
        if cycle:
            raise DependencyCycleError(job.id, cycle)
        shots = self._shots(job)
        if shots is not None:
            shots.set_dependencies(job, dependencies)
            return
        path = self.path
        old = list(job.dependencies)
        path.write(job, "dependencies", dependencies)
        path.index.inheritance.link(job)
        path.reindex(job)
        path.log(
            "log_event",
            "job_dependencies_changed",
            f"Job {job.id} now depends on {dependencies or 'nothing'}",
            job_id=job.id,
            client_id=job.client_id,
            old_dependencies=old,
            new_dependencies=list(dependencies),
        )
