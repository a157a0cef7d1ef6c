"""Priority and deadline inheritance along the dependency graph.

A job that unfinished dependents wait on runs at the highest rank among them, and must finish by
the earliest latest-start among them. Only jobs with waiting dependents have an entry here.
"""

from __future__ import annotations

from collections.abc import Mapping

from render_farm_manager.core.models import FINISHED_STATUSES
from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.scheduling.priority import own_latest_start, own_rank


class InheritanceIndex:
    def __init__(self) -> None:
        self.dependents: dict[str, set[str]] = {}
        self.inherited: dict[str, tuple[int, float]] = {}

    def link(self, child: UnitOfWork) -> None:
        for parent_id in child.dependencies:
            self.dependents.setdefault(parent_id, set()).add(child.id)

    def unlink(self, child: UnitOfWork) -> None:
        for parent_id in child.dependencies:
            children = self.dependents.get(parent_id)
            if children is not None:
                children.discard(child.id)
                if not children:
                    del self.dependents[parent_id]

    def rank_and_latest_start(self, job: UnitOfWork) -> tuple[int, float]:
        inherited = self.inherited.get(job.id)
        if inherited is not None:
            return inherited
        return own_rank(job), own_latest_start(job)

    def _compute(self, job: UnitOfWork, jobs: Mapping[str, UnitOfWork]) -> tuple[int, float] | None:
        rank, latest = own_rank(job), own_latest_start(job)
        inherited = False
        own_seconds = remaining_hours(job) * 3600.0
        for child_id in self.dependents.get(job.id, ()):
            child = jobs.get(child_id)
            if child is None or child.status in FINISHED_STATUSES:
                continue
            child_rank, child_latest = self.rank_and_latest_start(child)
            if child_rank > rank:
                rank, inherited = child_rank, True
            if child_latest - own_seconds < latest:
                latest, inherited = child_latest - own_seconds, True
        return (rank, latest) if inherited else None

    def refresh_upwards(self, start: UnitOfWork, jobs: Mapping[str, UnitOfWork]) -> list[str]:
        """Recompute the ancestors of ``start``; returns the ids whose inherited values changed."""
        changed: list[str] = []
        stack = list(start.dependencies)
        seen: set[str] = set()
        while stack:
            job_id = stack.pop()
            if job_id in seen:
                continue
            seen.add(job_id)
            job = jobs.get(job_id)
            if job is None:
                continue
            new = self._compute(job, jobs)
            if new != self.inherited.get(job_id):
                if new is None:
                    self.inherited.pop(job_id, None)
                else:
                    self.inherited[job_id] = new
                changed.append(job_id)
                stack.extend(job.dependencies)
        return changed
