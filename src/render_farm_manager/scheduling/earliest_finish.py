"""Earliest-finish placement: a job goes where it is expected to finish first.

A free node of a slow class can finish later than a busy node of a fast class once that node
frees up. Using learned speeds and the expected end of every running job, each job picks the pool
with the earliest expected finish; when that pool is busy, the job reserves its next free slot and
waits rather than occupying slow hardware. Without learned speeds every pool runs at the estimate
and a free node always wins, so this reduces to plain best-free placement.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.scheduling.cycle_plan import CycleInputs
from render_farm_manager.scheduling.node_pools import NodePool, PoolKey, busy_until

TOLERANCE = 0.10
"""A free pool finishing within 10% of the best expected finish counts as just as good."""


class PoolAvailability:
    """When the next node of each pool frees up, in seconds from now (built lazily)."""

    def __init__(self, inputs: CycleInputs) -> None:
        self._inputs = inputs
        self._heaps: dict[PoolKey, list[float]] = {}
        self._speeds: dict[tuple[str, PoolKey], float] = {}

    def speed(self, job: UnitOfWork, pool: NodePool) -> float:
        """``inputs.speed_of`` (fixed for the cycle), asked once per job type and pool."""
        key = (job.job_type, pool.key)
        speed = self._speeds.get(key)
        if speed is None:
            speed = self._speeds[key] = self._inputs.speed_of(job, pool)
        return speed

    def _heap(self, pool: NodePool) -> list[float]:
        heap = self._heaps.get(pool.key)
        if heap is None:
            inputs = self._inputs
            heap = [
                hours * 3600.0
                for _, hours in busy_until(
                    pool, inputs.running_by_node, inputs.hours_left, inputs.now
                )
            ]
            heapq.heapify(heap)
            self._heaps[pool.key] = heap
        return heap

    def next_free(self, pool: NodePool) -> float:
        heap = self._heap(pool)
        return heap[0] if heap else float("inf")

    def occupy(self, pool: NodePool, until: float) -> None:
        """A node of ``pool`` is taken (now, or from its next free slot) until ``until``."""
        heap = self._heap(pool)
        if heap and until > heap[0] and not pool.free:
            heapq.heapreplace(heap, until)
        else:
            heapq.heappush(heap, until)


def choose_or_wait(
    job: UnitOfWork,
    inputs: CycleInputs,
    availability: PoolAvailability,
    allowed: Callable[[NodePool], bool] | None = None,
) -> tuple[NodePool | None, bool]:
    """(pool to place the job on now, whether it waits for a faster busy pool); only pools
    ``allowed`` are considered."""
    seconds = remaining_hours(job) * 3600.0
    excluded = job.excluded_node_ids
    best_finish = float("inf")
    best_busy: NodePool | None = None
    free_finishes: dict[PoolKey, float] = {}
    for pool in inputs.ranker.fitting(job):
        if allowed is not None and not allowed(pool):
            continue
        duration = seconds / availability.speed(job, pool)
        has_free = pool.has_free(excluded)
        if has_free:
            finish = duration
            free_finishes[pool.key] = finish
        else:
            finish = availability.next_free(pool) + duration
        if finish < best_finish:
            best_finish = finish
            best_busy = None if has_free else pool
    if not free_finishes:
        return None, False  # nothing fits now: the caller records that, no reservation needed
    good_enough = {
        key for key, finish in free_finishes.items() if finish <= best_finish * (1 + TOLERANCE)
    }
    if not good_enough and best_busy is not None:
        availability.occupy(best_busy, best_finish)
        return None, True
    chosen = inputs.ranker.choose(job, among=good_enough)
    if chosen is not None:
        availability.occupy(chosen, free_finishes[chosen.key])
    return chosen, False
