"""The policies studios use today, as schedulers for the same manager.

Each baseline replaces only the decision (``plan_cycle``); the manager applies it, audits it and
accounts for it exactly as it does ours. None of them preempts, defers for energy or learns.

* ``fifo``         first submitted, first placed, on the first free node that fits
* ``round-robin``  first submitted first, on the next fitting node in a fixed rotation
* ``random``       first submitted first, on a random fitting free node
* ``deadline10``   priority, then submission time; each job type has a pool of preferred node
                   kinds (GPU work on GPU nodes, simulations on large-memory nodes), other
                   nodes as the fallback pool (Deadline 10's default ordering with pools)
* ``opencue``      subscription tier, then priority, then submission; a client's running share
                   is capped at its burst (``max_resources``); first fit (OpenCue's dispatcher)
* ``edf``          earliest deadline first, placed by the node matcher with learning switched off

Shots reach them as the manager's tasks, as frames reach the dispatchers of OpenCue and Deadline:
tasks of one shot share its submission time, priority and deadline, and among themselves keep
the shot's task order (preview frames first), as a dispatcher takes a job's frames in order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from render_farm_manager.core.models import (
    PRIORITY_RANK,
    JobPriority,
    NodeStatus,
    RenderNode,
    RenderTask,
    ServiceTier,
)
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import fits
from render_farm_manager.scheduling.cycle_plan import CyclePlan
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.scheduling.feasibility import job_shape
from render_farm_manager.scheduling.ready_queue import ReadyQueue

_TIER_RANK = {ServiceTier.PREMIUM: 0, ServiceTier.STANDARD: 1, ServiceTier.BASIC: 2}
_POOLS = {  # job type -> predicate of preferred nodes
    "lighting": lambda n: n.capabilities.gpu_count > 0,
    "animation": lambda n: n.capabilities.gpu_count > 0,
    "simulation": lambda n: n.capabilities.memory_gb >= 256,
    "scene-assembly": lambda n: n.capabilities.memory_gb >= 512,
}


def _free_nodes(nodes: Iterable[RenderNode]) -> list[RenderNode]:
    return [
        n
        for n in nodes
        if n.status == NodeStatus.ONLINE and not n.draining and n.current_job_id is None
    ]


def _submitted(job: Any) -> datetime:
    return job.submission_time or datetime.min


def _in_order(job: Any) -> tuple[str, int, str]:
    """Ties after the policy's own key: a task by its shot, then its place in the shot's task
    order (its id ends in that number: ``shot/render/12``); a job by its id."""
    if isinstance(job, RenderTask):
        number = job.id.rsplit("/", 1)[-1]
        return (job.job_id, int(number) if number.isdigit() else 0, job.id)
    return (job.id, 0, job.id)


class OrderedFirstFit(DeadlineScheduler):
    """Sort waiting work by :meth:`order_key`; give each job a node chosen by :meth:`pick`."""

    name = "base"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(enable_preemption=False, **kwargs)
        self._order: dict[str, tuple[str, int, str]] = {}

    def in_order(self, job: Any) -> tuple[str, int, str]:
        """:func:`_in_order`, remembered (the queue is sorted every cycle; like the manager's
        job table, this keeps an entry per job ever queued)."""
        key = self._order.get(job.id)
        if key is None:
            key = self._order[job.id] = _in_order(job)
        return key

    def order_key(self, job: Any) -> tuple[Any, ...]:
        return (_submitted(job), self.in_order(job))

    def pick(self, job: UnitOfWork, free: list[RenderNode]) -> RenderNode | None:
        for node in free:
            if fits(job, node):
                return node
        return None

    def allowed(self, job: UnitOfWork, running: dict[str, int], online: int) -> bool:
        return True

    def plan_cycle(
        self,
        *,
        queue: ReadyQueue,
        jobs: Mapping[str, UnitOfWork],
        nodes: Iterable[RenderNode],
        running_by_node: Mapping[str, UnitOfWork],
        now: datetime,
        **_: Any,
    ) -> CyclePlan:
        plan = CyclePlan()
        node_list = list(nodes)
        free = _free_nodes(node_list)
        if not free:
            return plan
        online = sum(1 for n in node_list if n.status == NodeStatus.ONLINE)
        running: dict[str, int] = {}
        for job in running_by_node.values():
            running[job.client_id] = running.get(job.client_id, 0) + 1
        waiting = sorted((jobs[job_id] for job_id in queue.ids()), key=self.order_key)
        unplaceable: set[tuple[Any, ...]] = set()
        """Shapes (hardware needs, blocklist) no free node fits: free nodes only get fewer."""
        for job in waiting:
            if not free:
                break
            if not self.allowed(job, running, online):
                continue
            shape = (job_shape(job), tuple(job.excluded_node_ids))
            if shape in unplaceable:
                continue
            node = self.pick(job, free)
            if node is None:
                if not any(fits(job, n) for n in free):
                    unplaceable.add(shape)
                continue
            free.remove(node)
            plan.assignments[job.id] = node.id
            running[job.client_id] = running.get(job.client_id, 0) + 1
            plan.examined += 1
        return plan


class FifoScheduler(OrderedFirstFit):
    name = "fifo"


class RoundRobinScheduler(OrderedFirstFit):
    name = "round-robin"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cursor = 0
        self._rotation: list[str] = []

    def pick(self, job: UnitOfWork, free: list[RenderNode]) -> RenderNode | None:
        by_id = {n.id: n for n in free}
        for node_id in by_id:
            if node_id not in self._rotation:
                self._rotation.append(node_id)
        count = len(self._rotation)
        for step in range(count):
            node_id = self._rotation[(self._cursor + step) % count]
            node = by_id.get(node_id)
            if node is not None and fits(job, node):
                self._cursor = (self._cursor + step + 1) % count
                return node
        return None


class RandomFitScheduler(OrderedFirstFit):
    name = "random"

    def __init__(self, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rng = random.Random(seed)

    def pick(self, job: UnitOfWork, free: list[RenderNode]) -> RenderNode | None:
        candidates = [n for n in free if fits(job, n)]
        return self._rng.choice(candidates) if candidates else None


class Deadline10Scheduler(OrderedFirstFit):
    name = "deadline10"

    def order_key(self, job: Any) -> tuple[Any, ...]:
        return (-PRIORITY_RANK[JobPriority(job.priority)], _submitted(job), self.in_order(job))

    def pick(self, job: UnitOfWork, free: list[RenderNode]) -> RenderNode | None:
        preferred: Callable[[RenderNode], bool] = _POOLS.get(job.job_type, lambda n: True)
        fallback = None
        for node in free:
            if not fits(job, node):
                continue
            if preferred(node):
                return node
            fallback = fallback or node
        return fallback


class OpenCueScheduler(OrderedFirstFit):
    name = "opencue"

    def __init__(
        self, tiers: Mapping[str, ServiceTier], bursts: Mapping[str, float], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.tiers = dict(tiers)
        self.bursts = dict(bursts)

    def order_key(self, job: Any) -> tuple[Any, ...]:
        tier = _TIER_RANK.get(self.tiers.get(job.client_id, ServiceTier.STANDARD), 1)
        rank = -PRIORITY_RANK[JobPriority(job.priority)]
        return (tier, rank, _submitted(job), self.in_order(job))

    def allowed(self, job: UnitOfWork, running: dict[str, int], online: int) -> bool:
        burst = math.ceil(self.bursts.get(job.client_id, 100.0) * online / 100.0)
        return running.get(job.client_id, 0) < max(1, burst)


class EdfScheduler(OrderedFirstFit):
    name = "edf"

    def order_key(self, job: Any) -> tuple[Any, ...]:
        return (job.deadline, self.in_order(job))

    def pick(self, job: UnitOfWork, free: list[RenderNode]) -> RenderNode | None:
        node_id = self.node_specializer.match_job_to_node(job, free)
        return next((n for n in free if n.id == node_id), None)
