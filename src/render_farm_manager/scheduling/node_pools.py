"""Free nodes grouped into pools of identical hardware and specialisation.

Scoring a job against a pool scores it against every node in the pool at once, so placement
costs grow with the number of distinct kinds of machine, not with the number of machines nor
with how many distinct power-efficiency ratings they have. A pool hands out its free nodes most
efficient first (then fastest) in energy mode, otherwise fastest first (then most efficient),
and is ranked by the rating of the node it would hand out next (:meth:`NodePool.best_free`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from render_farm_manager.core.models import NodeCapabilities, RenderNode
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import schedulable
from render_farm_manager.node_specialization.hardware import hardware_class

PoolKey = tuple[str, tuple[str, ...], str, tuple[object, ...]]


@dataclass
class NodePool:
    key: PoolKey
    representative: RenderNode
    free: list[RenderNode] = field(default_factory=list)
    """Free nodes, best last so that ``pop()`` takes it (see the module's docstring)."""
    busy: list[RenderNode] = field(default_factory=list)
    top_rating: float = 0.0
    """The highest power-efficiency rating of any node in the pool (free or busy): no node
    the pool hands out this cycle is rated higher."""

    @property
    def capabilities(self) -> NodeCapabilities:
        return self.representative.capabilities

    @property
    def hardware_class(self) -> str:
        return self.key[0]

    def take(self, excluded: list[str] | None = None) -> RenderNode | None:
        """Remove and return the best free node not in ``excluded``."""
        if not excluded:
            return self.free.pop() if self.free else None
        for index in range(len(self.free) - 1, -1, -1):
            if self.free[index].id not in excluded:
                return self.free.pop(index)
        return None

    def best_free(self, excluded: list[str] | None = None) -> RenderNode | None:
        """The node :meth:`take` would return, left in the pool."""
        if not excluded:
            return self.free[-1] if self.free else None
        for index in range(len(self.free) - 1, -1, -1):
            if self.free[index].id not in excluded:
                return self.free[index]
        return None

    def take_node(self, node: RenderNode) -> None:
        """Remove this very node from the free nodes (identity, not equality: cheap)."""
        for index in range(len(self.free) - 1, -1, -1):
            if self.free[index] is node:
                del self.free[index]
                return
        raise ValueError(f"node {node.id!r} is not free in its pool")

    def has_free(self, excluded: list[str] | None = None) -> bool:
        if not excluded:
            return bool(self.free)
        return any(node.id not in excluded for node in self.free)


def pool_key(node: RenderNode, alone: bool = False) -> PoolKey:
    """Nodes with equal keys can run the same work at the same speed (their ratings may
    differ); ``alone`` gives the node a pool of its own."""
    return (
        hardware_class(node),
        tuple(sorted(node.capabilities.specialized_for)),
        node.id if alone else "",
        _host_key(node),
    )


def _host_key(node: RenderNode) -> tuple[object, ...]:
    """What host requirements look at beyond the hardware class."""
    caps = node.capabilities
    return (caps.os, float(caps.gpu_memory_gb), tuple(sorted(caps.attributes.items())))


def _average_learned_speed(node: RenderNode) -> float:
    history = node.performance_history
    return sum(history.values()) / len(history) if history else 1.0


def _most_efficient_then_fastest(node: RenderNode) -> tuple[float, float]:
    return (float(node.power_efficiency_rating), _average_learned_speed(node))


def _fastest_then_most_efficient(node: RenderNode) -> tuple[float, float]:
    return (_average_learned_speed(node), float(node.power_efficiency_rating))


def build_pools(
    nodes: Iterable[RenderNode], one_per_node: bool = False, prefer_efficient: bool = False
) -> list[NodePool]:
    """Pools of the schedulable nodes (online, not draining); busy nodes are listed for
    preemption and forecasting. ``one_per_node`` when a matcher must judge every machine
    (one written by a user), not every kind of machine; ``prefer_efficient`` in energy mode,
    where a pool hands out its most efficient free node first."""
    pools: dict[PoolKey, NodePool] = {}
    for node in nodes:
        if not schedulable(node):
            continue
        key = pool_key(node, alone=one_per_node)
        pool = pools.get(key)
        rating = float(node.power_efficiency_rating)
        if pool is None:
            pool = pools[key] = NodePool(key, node, top_rating=rating)
        elif rating > pool.top_rating:
            pool.top_rating = rating
        (pool.free if node.current_job_id is None else pool.busy).append(node)
    best_last = _most_efficient_then_fastest if prefer_efficient else _fastest_then_most_efficient
    for pool in pools.values():
        if len(pool.free) > 1:
            pool.free.sort(key=best_last)
    return list(pools.values())


HoursLeft = Callable[[UnitOfWork, RenderNode], float]
"""Expected wall-clock hours for the rest of a job on a node (the matcher's learned speeds)."""


def busy_until(
    pool: NodePool,
    running_by_node: Mapping[str, UnitOfWork],
    hours_left: HoursLeft,
    now: datetime,
) -> list[tuple[UnitOfWork, float]]:
    """For each busy node of ``pool``: its job, and in how many hours from ``now`` it is
    expected to end (the work left at its last progress report, less the time since)."""
    until = []
    for node in pool.busy:
        job = running_by_node.get(node.id)
        if job is None:
            continue
        hours = hours_left(job, node)
        since = job.progress_reported_at or job.started_at
        if since is not None:
            hours = max(0.0, hours - (now - since).total_seconds() / 3600.0)
        until.append((job, hours))
    return until
