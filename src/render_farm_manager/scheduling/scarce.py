"""Scarce hardware kept for the work that needs it.

GPU nodes and large-memory nodes (by default, nodes with at least twice the median memory of
the farm) can run most work, and when the ordinary nodes are busy,
work that needs neither would take them. A render of eight hours on the only free GPU node
buries it while GPU work queues behind. During a cycle the guard counts, for each scarce kind,
the free nodes of that kind and the queued work that needs it (not yet placed); work that does
not need the kind may take such a node only while more of them are free than there is work
waiting for them. Pressing work (an emergency, work at risk or late) is never held back. Scarce
nodes still free at the end of the walk (the work that needs them was held back by its quota,
its limits or for cheaper power) go to the work that spared them, in order: a scarce node is
never left idle for work that cannot start.
"""

from __future__ import annotations

import math

from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.scheduling.node_pools import NodePool, PoolKey
from render_farm_manager.scheduling.ready_queue import ReadyQueue


def large_memory_threshold(pools: list[NodePool]) -> float:
    """Twice the median memory of the farm's nodes: a node with at least that much is a
    large-memory node (a farm whose nodes all have the same memory has none)."""
    sizes = sorted(
        (float(pool.capabilities.memory_gb), len(pool.free) + len(pool.busy)) for pool in pools
    )
    half = sum(count for _, count in sizes) / 2.0
    seen = 0
    for memory, count in sizes:
        seen += count
        if seen >= half:
            return 2.0 * memory
    return math.inf


class ScarceGuard:
    """Free scarce nodes and the queued work that needs them, during one cycle."""

    def __init__(
        self, pools: list[NodePool], queue: ReadyQueue, large_memory_gb: float | None = None
    ) -> None:
        if large_memory_gb is None:
            large_memory_gb = large_memory_threshold(pools)
        self.large_memory_gb = large_memory_gb
        self.kinds: dict[PoolKey, tuple[bool, bool]] = {}
        """Pool → (a GPU pool, a large-memory pool)."""
        self.ordinary_memory = 0.0
        """The most memory of a node that is not a large-memory node: work needing more
        needs a large-memory node."""
        self.free_gpu = self.free_large = 0
        for pool in pools:
            caps = pool.capabilities
            gpu, large = caps.gpu_count > 0, caps.memory_gb >= large_memory_gb
            self.kinds[pool.key] = (gpu, large)
            if not large:
                self.ordinary_memory = max(self.ordinary_memory, float(caps.memory_gb))
            self.free_gpu += len(pool.free) * gpu
            self.free_large += len(pool.free) * large
        self.needing_gpu = queue.waiting_for_gpu if self.free_gpu else 0
        self.needing_large = (
            queue.waiting_for_memory_above(self.ordinary_memory) if self.free_large else 0
        )

    @property
    def free(self) -> bool:
        """Is any scarce node still free?"""
        return self.free_gpu > 0 or self.free_large > 0

    def _needs(self, job: UnitOfWork) -> tuple[bool, bool]:
        return job.requires_gpu, job.memory_requirements_gb > self.ordinary_memory

    def spares(self, job: UnitOfWork, pool: NodePool) -> bool:
        """May ``job`` take a free node of ``pool`` without taking it from work that needs it?"""
        gpu, large = self.kinds.get(pool.key, (False, False))
        if not gpu and not large:
            return True
        needs_gpu, needs_large = self._needs(job)
        if gpu and not needs_gpu and self.free_gpu <= self.needing_gpu:
            return False
        return not (large and not needs_large and self.free_large <= self.needing_large)

    def started(self, job: UnitOfWork, pool: NodePool) -> None:
        """``job`` took a free node of ``pool``."""
        gpu, large = self.kinds.get(pool.key, (False, False))
        needs_gpu, needs_large = self._needs(job)
        self.free_gpu -= gpu
        self.free_large -= large
        self.needing_gpu -= needs_gpu
        self.needing_large -= needs_large
