"""Where every job stands for scheduling: the ready queue, jobs waiting on dependencies, running
jobs by node, and priority/deadline inheritance.

The change path keeps it in step (it calls :meth:`JobIndex.place` for every job whose status,
dependencies or scheduling values changed); the scheduler reads it, so a cycle never scans the
whole job table. Inheritance is recomputed lazily: call :meth:`JobIndex.flush` before reading the
queue's order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from render_farm_manager.core.models import WAITING_STATUSES, RenderJobStatus
from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.scheduling.inheritance import InheritanceIndex
from render_farm_manager.scheduling.priority import MAX_BASE_RANK, own_latest_start
from render_farm_manager.scheduling.ready_queue import ReadyQueue

S = RenderJobStatus
_GIVEN_UP = (S.FAILED, S.CANCELLED)


class IndexedJob(UnitOfWork, Protocol):
    blocked_reason: str | None


SetBlockedReason = Callable[[IndexedJob, str | None], None]


class JobIndex:
    def __init__(self, jobs: Mapping[str, IndexedJob], set_blocked_reason: SetBlockedReason):
        self._jobs = jobs
        self._set_blocked_reason = set_blocked_reason
        self.queue = ReadyQueue()
        self.inheritance = InheritanceIndex()
        self.waiting_on_dependencies: set[str] = set()
        self.newly_ready: set[str] = set()
        """Pending jobs that entered the ready queue since the last cycle."""
        self.running_by_node: dict[str, IndexedJob] = {}
        self._root_cause: dict[str, str] = {}
        """For a blocked job: the failure at the root of its block (one line, however deep)."""

    # -- dependencies --------------------------------------------------------------------------

    def unmet_dependencies(self, job: UnitOfWork) -> list[str]:
        return [
            d
            for d in job.dependencies
            if (parent := self._jobs.get(d)) is None or parent.status != S.COMPLETED
        ]

    def _blocking(self, job: UnitOfWork) -> tuple[str, str] | None:
        """(reason, root cause) when the job cannot start as things stand."""
        for dep_id in job.dependencies:
            parent = self._jobs.get(dep_id)
            if parent is None:
                reason = f"waiting for job {dep_id!r}, which has not been submitted"
                return reason, reason
            if parent.status in _GIVEN_UP:
                reason = f"dependency {dep_id!r} {parent.status.value}"
                return reason, reason
            if parent.blocked_reason and parent.status in WAITING_STATUSES:
                root = self._root_cause.get(dep_id, parent.blocked_reason)
                return f"dependency {dep_id!r} is blocked: {root}", root
        return None

    # -- keeping the index in step -------------------------------------------------------------

    def place(self, job: IndexedJob) -> None:
        """Put the job where its status and dependencies say it belongs. A shot is never
        queued itself: its tasks are."""
        if job.status in WAITING_STATUSES and not getattr(job, "is_shot", False):
            if self.unmet_dependencies(job):
                self.queue.discard(job.id)
                self.newly_ready.discard(job.id)
                self.waiting_on_dependencies.add(job.id)
                blocking = self._blocking(job)
                if blocking is None:
                    self._root_cause.pop(job.id, None)
                    reason = None
                else:
                    reason, self._root_cause[job.id] = blocking
                if job.blocked_reason != reason:
                    self._set_blocked_reason(job, reason)
                return
            self.waiting_on_dependencies.discard(job.id)
            self._root_cause.pop(job.id, None)
            if job.blocked_reason is not None:
                self._set_blocked_reason(job, None)
            rank, latest = self.inheritance.rank_and_latest_start(job)
            if rank < MAX_BASE_RANK and getattr(job, "__dict__", {}).get("first_look", False):
                rank = rank + 1  # a shot's first look: one frame, early feedback
            hours = remaining_hours(job)
            # due by its deadline, or as much earlier as work waiting on it needs
            due = job.deadline.timestamp() - max(0.0, own_latest_start(job) - latest)
            submitted = getattr(job, "submission_time", None)
            since = submitted.timestamp() if submitted is not None else None
            self.queue.put(
                job.id,
                job.client_id,
                rank,
                latest,
                hours,
                due,
                since,
                gpu=job.requires_gpu,
                memory_gb=job.memory_requirements_gb,
            )
            if job.status == S.PENDING:
                self.newly_ready.add(job.id)
            return
        self.queue.discard(job.id)
        self.newly_ready.discard(job.id)
        self.waiting_on_dependencies.discard(job.id)
        self._root_cause.pop(job.id, None)

    def settle_dependents(self, parent: UnitOfWork) -> None:
        """Re-examine every job (transitively) waiting on ``parent`` after its status changed:
        children become ready, or blocked, or unblocked."""
        stack = list(reversed(self.inheritance.dependents.get(parent.id, {})))
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
            self.place(child)
            if child.blocked_reason != before:
                stack.extend(reversed(self.inheritance.dependents.get(child_id, {})))

    def flush(self) -> None:
        """Bring inherited priorities and deadlines up to date, and the queue's order with them.
        Jobs moved are re-queued in the order they were queued (ties keep their order, and
        the outcome never depends on the order of a set)."""
        changed = [i for i in self.inheritance.flush(self._jobs) if i in self.queue]
        changed.sort(key=self.queue.sequence_of)
        for job_id in changed:
            job = self._jobs.get(job_id)
            if job is not None:
                self.place(job)

    def resync(self, jobs: Iterable[IndexedJob]) -> None:
        """After a change was undone (the queue and ``running_by_node`` restored exactly by
        the caller): recompute what is derived from the jobs themselves."""
        job_list = list(jobs)
        self.inheritance.clear()
        self.waiting_on_dependencies.clear()
        self.newly_ready.clear()
        self._root_cause.clear()
        for job in job_list:
            self.inheritance.link(job)
        for job in _parents_first(job_list):
            if job.status not in WAITING_STATUSES or getattr(job, "is_shot", False):
                continue
            if self.unmet_dependencies(job):
                self.waiting_on_dependencies.add(job.id)
                blocking = self._blocking(job)
                if blocking is not None:
                    self._root_cause[job.id] = blocking[1]
            elif job.status == S.PENDING and job.id in self.queue:
                self.newly_ready.add(job.id)


def _parents_first(jobs: list[IndexedJob]) -> list[IndexedJob]:
    """The jobs ordered so that every job comes after its dependencies among them (a cycle,
    which only a job failed at submission can close, is cut anywhere)."""
    by_id = {job.id: job for job in jobs}
    ordered: list[IndexedJob] = []
    done: set[str] = set()
    on_path: set[str] = set()
    for root in jobs:
        if root.id in done:
            continue
        stack: list[tuple[IndexedJob, int]] = [(root, 0)]
        on_path.add(root.id)
        while stack:
            job, position = stack[-1]
            deps = job.dependencies
            if position < len(deps):
                stack[-1] = (job, position + 1)
                dep = deps[position]
                if dep in by_id and dep not in done and dep not in on_path:
                    stack.append((by_id[dep], 0))
                    on_path.add(dep)
                continue
            stack.pop()
            on_path.discard(job.id)
            done.add(job.id)
            ordered.append(job)
    return ordered
