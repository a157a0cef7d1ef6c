"""Priority and deadline inheritance along the dependency graph.

A job that unfinished dependents wait on runs at the highest rank among them, and must finish by
the earliest latest-start among them. Only jobs with waiting dependents have an entry here.

Recomputation is lazy: a change marks the job, and :meth:`InheritanceIndex.flush` recomputes the
marked jobs and their ancestors once, children before parents. Submitting a chain of a thousand
jobs therefore costs one pass over the chain at the next scheduling decision, not a walk up the
chain per submission.
"""

from __future__ import annotations

from collections.abc import Mapping

from render_farm_manager.core.models import FINISHED_STATUSES
from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.scheduling.priority import own_latest_start, own_rank


class InheritanceIndex:
    def __init__(self) -> None:
        self.dependents: dict[str, dict[str, None]] = {}
        """Parent id → ids of the jobs that declared it as a dependency, in the order they did
        (an ordered set: released children enter the queue in that order, run after run)."""
        self.inherited: dict[str, tuple[int, float]] = {}
        self._parents: dict[str, tuple[str, ...]] = {}
        self._dirty: set[str] = set()

    # -- the graph -----------------------------------------------------------------------------

    def link(self, child: UnitOfWork) -> None:
        """Record the child's dependencies (replacing any it had)."""
        self.unlink(child.id)
        parents = tuple(dict.fromkeys(child.dependencies))
        self._parents[child.id] = parents
        for parent_id in parents:
            self.dependents.setdefault(parent_id, {})[child.id] = None
        self._dirty.add(child.id)

    def unlink(self, child_id: str) -> None:
        parents = self._parents.pop(child_id, ())
        for parent_id in parents:
            children = self.dependents.get(parent_id)
            if children is not None:
                children.pop(child_id, None)
                if not children:
                    del self.dependents[parent_id]
            self._dirty.add(parent_id)
        self.inherited.pop(child_id, None)

    def mark(self, job_id: str) -> None:
        """The job's own priority, deadline, remaining work or status changed."""
        self._dirty.add(job_id)

    def clear(self) -> None:
        self.dependents.clear()
        self.inherited.clear()
        self._parents.clear()
        self._dirty.clear()

    # -- values --------------------------------------------------------------------------------

    def rank_and_latest_start(self, job: UnitOfWork) -> tuple[int, float]:
        """What the job is scheduled at (call :meth:`flush` first for up-to-date values)."""
        inherited = self.inherited.get(job.id)
        if inherited is not None:
            return inherited
        return own_rank(job), own_latest_start(job)

    def _compute(self, job: UnitOfWork, jobs: Mapping[str, UnitOfWork]) -> tuple[int, float] | None:
        children = self.dependents.get(job.id)
        if not children:  # nothing waits on it: nothing to inherit (most jobs)
            return None
        rank, latest = own_rank(job), own_latest_start(job)
        inherited = False
        own_seconds = remaining_hours(job) * 3600.0
        for child_id in children:
            child = jobs.get(child_id)
            if child is None or child.status in FINISHED_STATUSES:
                continue
            child_rank, child_latest = self.rank_and_latest_start(child)
            if child_rank > rank:
                rank, inherited = child_rank, True
            if child_latest - own_seconds < latest:
                latest, inherited = child_latest - own_seconds, True
        return (rank, latest) if inherited else None

    def flush(self, jobs: Mapping[str, UnitOfWork]) -> list[str]:
        """Recompute every marked job and its ancestors, each once, children first. Returns the
        ids whose inherited values changed."""
        if not self._dirty:
            return []
        closure: set[str] = set()
        stack = list(self._dirty)
        self._dirty.clear()
        while stack:
            job_id = stack.pop()
            if job_id not in closure:
                closure.add(job_id)
                stack.extend(self._parents.get(job_id, ()))
        waiting_children = dict.fromkeys(closure, 0)
        for job_id in closure:
            for parent_id in self._parents.get(job_id, ()):
                waiting_children[parent_id] += 1
        ready = [job_id for job_id, count in waiting_children.items() if count == 0]
        changed: list[str] = []
        while ready:
            job_id = ready.pop()
            job = jobs.get(job_id)
            if job is not None:
                new = self._compute(job, jobs)
                if new != self.inherited.get(job_id):
                    if new is None:
                        del self.inherited[job_id]
                    else:
                        self.inherited[job_id] = new
                    changed.append(job_id)
            for parent_id in self._parents.get(job_id, ()):
                waiting_children[parent_id] -= 1
                if waiting_children[parent_id] == 0:
                    ready.append(parent_id)
        return changed
