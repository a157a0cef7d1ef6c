"""The policies studios use today, set up as a studio's admin sets them up, as schedulers for the
same manager.

Each baseline replaces only the decision (``plan_cycle``); the manager applies it, audits it,
holds it to counted limits and machine limits and accounts for it exactly as it does ours.
Limits are read from the manager's limit book while planning, so a baseline never gives a node
to work the book would hold back. None of the baselines preempts, defers for energy or learns.

Node preference. An admin orders Deadline's workers and OpenCue's hosts; registration order
would be an adversarial order. ``fifo``, ``deadline10`` and ``opencue`` give a job the first
fitting free node in :func:`node_preference` order: newest declared hardware first (higher
``power_efficiency_rating``, then more cores, then node id). It reads only what a node declares,
never measured or hidden speeds. ``round-robin``, ``random`` and ``edf`` choose their own way.

* ``fifo``         first submitted, first placed, on the preferred free node that fits
* ``round-robin``  first submitted first, on the next fitting node in a fixed rotation
* ``random``       first submitted first, on a random fitting free node
* ``deadline10``   Deadline 10 with groups and pools (:class:`Deadline10Scheduler`):

  - groups: one per hardware kind (:func:`node_group`: ``gpu``, ``large-memory``, ``cpu``). A
    job's group is what its hardware needs call for, which :func:`fits` enforces, so groups hold
    nothing back beyond it.
  - pools: each job type has a primary and a secondary pool, each a group's nodes
    (:data:`DEADLINE_POOLS`). Every worker lists its own kind's pool first and the others after
    it (the documented way to keep workers from idling), so a job spills over to any fitting
    node once both pools are busy, unless its type's pools say ``spill=False``. A job type
    without pools is in Deadline's ``none`` pool, the last of every worker's pools.
  - order: Deadline's default "pool, priority, date", as three passes over the waiting work in
    priority then submission order: each job on its primary pool's nodes, then on its secondary
    pool's (Deadline's second pass), then (where it may spill) on any fitting node.
  - Deadline's Limits are counted resources and machine limits, which the manager enforces; it
    has no per-client guaranteed shares, so its policy gives clients no quotas. Power
    Management's idle shutdown is the policy's ``power_down``.

* ``opencue``      OpenCue's cuebot dispatcher (:class:`OpenCueScheduler`). Each client (a show)
  has a subscription: a ``size`` (cores it is guaranteed: the client's ``guaranteed_resources``)
  and a ``burst`` (its ceiling: ``max_resources``), both percent of the online nodes here. Shows
  are served by their tier, running over size ascending: shows running nothing first, larger
  size first; a show of size 0 ranks as if it ran one node more than it does, behind every show
  below its size. Tiers are recomputed after each placement (cuebot caches them for seconds).
  Within a show, jobs by priority then submission. A show gets a node only while that keeps it
  within its burst (a burst below one node gives it nothing, as in cuebot). No preemption.
* ``edf``          earliest deadline first, placed by the node matcher with learning switched off

Shots reach them as the manager's tasks, as frames reach the dispatchers of OpenCue and Deadline:
tasks of one shot share its submission time, priority and deadline, and among themselves keep
the shot's task order (preview frames first), as a dispatcher takes a job's frames in order.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from render_farm_manager.core.models import (
    PRIORITY_RANK,
    JobPriority,
    NodeStatus,
    RenderNode,
    RenderTask,
)
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import fits
from render_farm_manager.scheduling.cycle_plan import CyclePlan
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.scheduling.feasibility import job_shape
from render_farm_manager.scheduling.limits import LimitBook
from render_farm_manager.scheduling.ready_queue import ReadyQueue


def node_preference(node: RenderNode) -> tuple[float, int, str]:
    """Sort key of an admin's node order: newest declared hardware first (higher power
    efficiency rating, then more cores), then node id."""
    return (-node.power_efficiency_rating, -node.capabilities.cpu_cores, node.id)


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


@dataclass
class Cycle:
    """One cycle's placements as they are made: the free nodes (in the policy's node order),
    nodes running per client, the limit book, and the plan."""

    free: list[RenderNode]
    online: int
    running: dict[str, int]
    limits: LimitBook | None
    plan: CyclePlan = field(default_factory=CyclePlan)
    unplaceable: set[tuple[Any, ...]] = field(default_factory=set)
    """Shapes (hardware needs, blocklist) no free node fits: free nodes only get fewer."""

    def may_start(self, job: UnitOfWork) -> bool:
        """Not held back by a limit, and some free node could still fit a job of its shape."""
        if self.limits is not None and not self.limits.may_start(job):
            return False
        return (job_shape(job), tuple(job.excluded_node_ids)) not in self.unplaceable

    def no_free_fit(self, job: UnitOfWork) -> None:
        """Remember the job's shape when no free node at all fits it."""
        if not any(fits(job, n) for n in self.free):
            self.unplaceable.add((job_shape(job), tuple(job.excluded_node_ids)))

    def place(self, job: UnitOfWork, node: RenderNode) -> None:
        self.free.remove(node)
        self.plan.assignments[job.id] = node.id
        self.plan.examined += 1
        self.running[job.client_id] = self.running.get(job.client_id, 0) + 1
        if self.limits is not None:
            self.limits.started(job)


class OrderedFirstFit(DeadlineScheduler):
    """Sort waiting work by :meth:`order_key`; give each job a node chosen by :meth:`pick` from
    the free nodes, in :func:`node_preference` order (as registered, without
    :attr:`prefers_nodes`)."""

    name = "base"
    prefers_nodes = True

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

    def plan_cycle(
        self,
        *,
        queue: ReadyQueue,
        jobs: Mapping[str, UnitOfWork],
        nodes: Iterable[RenderNode],
        running_by_node: Mapping[str, UnitOfWork],
        now: datetime,
        limits: LimitBook | None = None,
        **_: Any,
    ) -> CyclePlan:
        node_list = list(nodes)
        free = _free_nodes(node_list)
        if not free:
            return CyclePlan()
        if self.prefers_nodes:
            free.sort(key=node_preference)
        running: dict[str, int] = {}
        for job in running_by_node.values():
            running[job.client_id] = running.get(job.client_id, 0) + 1
        online = sum(1 for n in node_list if n.status == NodeStatus.ONLINE)
        cycle = Cycle(free, online, running, limits)
        self.dispatch(sorted((jobs[job_id] for job_id in queue.ids()), key=self.order_key), cycle)
        return cycle.plan

    def dispatch(self, waiting: list[UnitOfWork], cycle: Cycle) -> None:
        """Each job in order on the node :meth:`pick` chooses, until the free nodes run out."""
        for job in waiting:
            if not cycle.free:
                return
            if not cycle.may_start(job):
                continue
            node = self.pick(job, cycle.free)
            if node is None:
                cycle.no_free_fit(job)
            else:
                cycle.place(job, node)


class FifoScheduler(OrderedFirstFit):
    name = "fifo"


class RoundRobinScheduler(OrderedFirstFit):
    name = "round-robin"
    prefers_nodes = False

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
    prefers_nodes = False

    def __init__(self, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rng = random.Random(seed)

    def pick(self, job: UnitOfWork, free: list[RenderNode]) -> RenderNode | None:
        candidates = [n for n in free if fits(job, n)]
        return self._rng.choice(candidates) if candidates else None


# -- Deadline 10 ------------------------------------------------------------------------------

ANY_NODE = "*"
"""In a pass of :meth:`Deadline10Scheduler.dispatch`: any fitting node, whatever its group."""
LARGE_MEMORY_GB = 256
"""A node without GPUs and with at least this much memory is in the ``large-memory`` group."""


def node_group(node: RenderNode) -> str:
    """The node's Deadline group, its hardware kind: ``gpu``, ``large-memory`` or ``cpu``."""
    if node.capabilities.gpu_count > 0:
        return "gpu"
    if node.capabilities.memory_gb >= LARGE_MEMORY_GB:
        return "large-memory"
    return "cpu"


@dataclass(frozen=True)
class JobPools:
    """A job type's Deadline pools, each named after the group whose nodes are in it."""

    primary: str
    secondary: str | None = None
    spill: bool = True
    """Once both pools are busy, may the job take any other fitting node?"""


DEADLINE_POOLS: dict[str, JobPools] = {
    # renders on GPU nodes, then on CPU nodes (the renderers studios use have both)
    "lighting": JobPools("gpu", "cpu"),
    "animation": JobPools("gpu", "cpu"),
    # effects renders are heavy: GPU nodes, then the large-memory CPU nodes
    "vfx": JobPools("gpu", "large-memory"),
    # memory-bound work on large-memory nodes, then CPU nodes (GPUs are kept for rendering)
    "simulation": JobPools("large-memory", "cpu"),
    "scene-assembly": JobPools("large-memory", "cpu"),
    # compositing on CPU nodes, then large-memory ones
    "compositing": JobPools("cpu", "large-memory"),
}


class Deadline10Scheduler(OrderedFirstFit):
    name = "deadline10"

    def __init__(self, pools: Mapping[str, JobPools] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pools = dict(DEADLINE_POOLS if pools is None else pools)

    def order_key(self, job: Any) -> tuple[Any, ...]:
        return (-PRIORITY_RANK[JobPriority(job.priority)], _submitted(job), self.in_order(job))

    def pass_nodes(self, job: UnitOfWork, stage: int) -> str | None:
        """The nodes ``job`` may take in pass ``stage`` (0: primary pool, 1: secondary pool,
        2: spilling over): a group, :data:`ANY_NODE`, or None (it sits the pass out). A job
        type without pools is in the ``none`` pool: any node, in the last pass."""
        pools = self.pools.get(job.job_type)
        if pools is None:
            return ANY_NODE if stage == 2 else None
        return (pools.primary, pools.secondary, ANY_NODE if pools.spill else None)[stage]

    def dispatch(self, waiting: list[UnitOfWork], cycle: Cycle) -> None:
        """Pool, priority, date: a pass over the work on primary pools, one on secondary pools,
        then one on every fitting node; what a pass leaves waits for the next."""
        group_of = {n.id: node_group(n) for n in cycle.free}
        for stage in range(3):
            left: list[UnitOfWork] = []
            for job in waiting:
                if not cycle.free:
                    return
                if not cycle.may_start(job):
                    continue
                nodes = self.pass_nodes(job, stage)
                if nodes is None:
                    left.append(job)
                    continue
                node = next(
                    (n for n in cycle.free if nodes in (ANY_NODE, group_of[n.id]) and fits(job, n)),
                    None,
                )
                if node is None:
                    cycle.no_free_fit(job)
                    left.append(job)
                else:
                    cycle.place(job, node)
            waiting = left


# -- OpenCue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """A show's subscription to the farm's allocation, in percent of the online nodes."""

    size: float = 0.0
    """What the show is guaranteed: shows furthest below their size are served first."""
    burst: float = 100.0
    """The most the show may use."""


class OpenCueScheduler(OrderedFirstFit):
    """OpenCue's dispatcher: shows by tier (running over subscription size), jobs by priority
    then submission, no show past its burst. A client without a subscription is served as one
    of size 0 and burst 100% (a studio's admin subscribes every show)."""

    name = "opencue"

    def __init__(self, subscriptions: Mapping[str, Subscription], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.subscriptions = dict(subscriptions)

    def order_key(self, job: Any) -> tuple[Any, ...]:
        return (-PRIORITY_RANK[JobPriority(job.priority)], _submitted(job), self.in_order(job))

    def tier(self, client_id: str, running: int, online: int) -> float:
        """Running over size, lower first: a show running nothing comes first (larger size
        first); a show of size 0 counts as running one node more than it does."""
        size = self.subscriptions.get(client_id, Subscription()).size * online / 100.0
        if size <= 0:
            return running + 1.0
        if running == 0:
            return -size
        return running / size

    def within_burst(self, client_id: str, running: int, online: int) -> bool:
        """May the show take one node more?"""
        burst = self.subscriptions.get(client_id, Subscription()).burst * online / 100.0
        return running + 1 <= burst + 1e-9

    def dispatch(self, waiting: list[UnitOfWork], cycle: Cycle) -> None:
        """The show of lowest tier within its burst takes its first job that starts on a free
        node; repeated until no show can place anything."""
        by_show: dict[str, list[UnitOfWork]] = {}
        for job in reversed(waiting):  # each show's list ends with its first job
            by_show.setdefault(job.client_id, []).append(job)
        while cycle.free and by_show:
            shows = sorted(
                (self.tier(show, cycle.running.get(show, 0), cycle.online), show)
                for show in by_show
            )
            for _, show in shows:
                if self._place_next(show, by_show, cycle):
                    break
            else:
                return

    def _place_next(self, show: str, by_show: dict[str, list[UnitOfWork]], cycle: Cycle) -> bool:
        """Place the show's first job that can start; drop those that cannot this cycle (free
        nodes and limits only tighten within a cycle)."""
        jobs = by_show[show]
        placed = False
        if self.within_burst(show, cycle.running.get(show, 0), cycle.online):
            while jobs and not placed:
                job = jobs.pop()
                node = self.pick(job, cycle.free) if cycle.may_start(job) else None
                if node is None:
                    cycle.no_free_fit(job)
                else:
                    cycle.place(job, node)
                    placed = True
        else:
            jobs.clear()  # at its burst: nothing more this cycle
        if not jobs:
            del by_show[show]
        return placed


class EdfScheduler(OrderedFirstFit):
    name = "edf"
    prefers_nodes = False

    def order_key(self, job: Any) -> tuple[Any, ...]:
        return (job.deadline, self.in_order(job))

    def pick(self, job: UnitOfWork, free: list[RenderNode]) -> RenderNode | None:
        node_id = self.node_specializer.match_job_to_node(job, free)
        return next((n for n in free if n.id == node_id), None)
