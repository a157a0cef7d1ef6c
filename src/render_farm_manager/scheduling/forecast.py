"""When will each job finish? A list-scheduling forecast of the current queue.

Every node becomes available when its running job is expected to end; waiting work, taken in
scheduling order, goes to the fitting pool that frees up first and runs at the speed learned for
that pool's hardware. This is what ``will_meet_deadline`` answers from: the job's place in the
queue and the node it would get, not only its own duration.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from render_farm_manager.core.models import RenderNode
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.scheduling.node_pools import NodePool, PoolKey, busy_until
from render_farm_manager.scheduling.pool_ranking import PoolRanker


def forecast_finish_times(
    order: Iterable[UnitOfWork],
    ranker: PoolRanker,
    running_by_node: Mapping[str, UnitOfWork],
    now: datetime,
    expected_hours: Callable[[UnitOfWork, RenderNode], float],
) -> dict[str, datetime]:
    finish: dict[str, datetime] = {}
    available: dict[PoolKey, list[float]] = {}
    pools: dict[PoolKey, NodePool] = {pool.key: pool for pool in ranker.pools}
    for pool in ranker.pools:
        heap = [0.0] * len(pool.free)
        for job, hours in busy_until(pool, running_by_node, expected_hours, now):
            finish[job.id] = now + timedelta(hours=hours)
            heap.append(hours)
        heapq.heapify(heap)
        available[pool.key] = heap
    for job in order:
        best_key, best_start = None, float("inf")
        for pool in ranker.fitting(job):
            heap = available[pool.key]
            if heap and heap[0] < best_start:
                best_key, best_start = pool.key, heap[0]
        if best_key is None:
            continue
        end = best_start + expected_hours(job, pools[best_key].representative)
        heapq.heapreplace(available[best_key], end)
        finish[job.id] = now + timedelta(hours=end)
    return finish
