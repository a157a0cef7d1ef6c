"""Where every job stands for scheduling: the ready queue, jobs waiting on dependencies, running
jobs by node, and priority/deadline inheritance. Kept in step by the manager's single
state-change path, so a cycle never scans the whole job table."""

from __future__ import annotations

from collections.abc import Mapping

from render_farm_manager.core.models import (
    WAITING_STATUSES,
    RenderJob,
    RenderJobStatus,
)
from render_farm_manager.core.work import remaining_hours
from render_farm_manager.scheduling.inheritance import InheritanceIndex
from render_farm_manager.scheduling.ready_queue import ReadyQueue


class JobIndex:
    def __init__(self, jobs: Mapping[str, RenderJob]) -> None:
        self._jobs = jobs
        self.queue = ReadyQueue()
        self.inheritance = InheritanceIndex()
        self.waiting_on_dependencies: set[str] = set()
        self.newly_ready: set[str] = set()
        """Pending jobs that entered the ready queue since the last cycle."""
        self.running_by_node: dict[str, RenderJob] = {}

    # -- dependencies --------------------------------------------------------------------------

    def unmet_dependencies(self, job: RenderJob) -> list[str]:
        return [
            d
            for d in job.dependencies
            if (parent := self._jobs.get(d)) is None or parent.status != RenderJobStatus.COMPLETED
        ]

    def blocking_reason(self, job: RenderJob) -> str | None:
        """Why the job can never start as things stand (a failed, cancelled or missing parent)."""
        for dep_id in job.dependencies:
            parent = self._jobs.get(dep_id)
            if parent is None:
                return f"waiting for job {dep_id!r}, which has not been submitted"
            if parent.status in (RenderJobStatus.FAILED, RenderJobStatus.CANCELLED):
                return f"dependency {dep_id!r} {parent.status.value}"
            if parent.blocked_reason and parent.status in WAITING_STATUSES:
                return f"dependency {dep_id!r} is blocked: {parent.blocked_reason}"
        return None

    # -- keeping the index in step -------------------------------------------------------------

    def reindex(self, job: RenderJob) -> None:
        """Put the job where its status says it belongs."""
        if job.status in WAITING_STATUSES:
            if self.unmet_dependencies(job):
                self.queue.discard(job.id)
                self.newly_ready.discard(job.id)
                self.waiting_on_dependencies.add(job.id)
                reason = self.blocking_reason(job)
                if job.blocked_reason != reason:
                    job.blocked_reason = reason
                return
            self.waiting_on_dependencies.discard(job.id)
            if job.blocked_reason is not None:
                job.blocked_reason = None
            rank, latest = self.inheritance.rank_and_latest_start(job)
            self.queue.put(job.id, job.client_id, rank, latest, remaining_hours(job))
            if job.status == RenderJobStatus.PENDING:
                self.newly_ready.add(job.id)
            return
        self.queue.discard(job.id)
        self.newly_ready.discard(job.id)
        self.waiting_on_dependencies.discard(job.id)

    def refresh_ancestors(self, job: RenderJob) -> None:
        """After a change to ``job``, recompute what its ancestors inherit and requeue them."""
        for parent_id in self.inheritance.refresh_upwards(job, self._jobs):
            parent = self._jobs.get(parent_id)
            if parent is not None and parent.id in self.queue:
                self.reindex(parent)

    def dependents_changed(self, parent: RenderJob) -> list[RenderJob]:
        """Re-examine every job (transitively) waiting on ``parent``; returns those examined."""
        examined: list[RenderJob] = []
        stack = list(self.inheritance.dependents.get(parent.id, ()))
        seen: set[str] = set()
        while stack:
            child_id = stack.pop()
            if child_id in seen:
                continue
            seen.add(child_id)
            child = self._jobs.get(child_id)
            if child is None or child.status not in WAITING_STATUSES:
                continue
            before = child.blocked_reason
            self.reindex(child)
            examined.append(child)
            if child.blocked_reason != before:
                stack.extend(self.inheritance.dependents.get(child_id, ()))
        return examined

    def forget(self, job: RenderJob) -> None:
        self.reindex(job)
        self.inheritance.unlink(job)
