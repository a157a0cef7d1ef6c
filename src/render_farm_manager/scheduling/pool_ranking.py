"""Which pool a job should go to: pools ranked per (job type, GPU need), then the best free one
that fits the job's memory and cores, with a bonus for a snug fit."""

from __future__ import annotations

from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.scoring import FIT_BONUS_MAX, fit_bonus
from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)
from render_farm_manager.scheduling.node_pools import NodePool, PoolKey

RankedPools = list[tuple[float, NodePool]]


class PoolRanker:
    def __init__(
        self, pools: list[NodePool], matcher: NodeSpecializationManager, energy_weight: float = 0.0
    ) -> None:
        self.pools = pools
        self.matcher = matcher
        self.energy_weight = energy_weight
        self._ranked: dict[tuple[str, bool], RankedPools] = {}

    def ranked(self, job_type: str, requires_gpu: bool) -> RankedPools:
        """Pools that meet the GPU need, best base score first (computed once per cycle)."""
        key = (job_type, requires_gpu)
        ranked = self._ranked.get(key)
        if ranked is None:
            ranked = [
                (
                    self.matcher.base_score(
                        job_type, requires_gpu, p.representative, self.energy_weight
                    ),
                    p,
                )
                for p in self.pools
                if not requires_gpu or p.capabilities.gpu_count > 0
            ]
            ranked.sort(key=lambda item: -item[0])
            self._ranked[key] = ranked
        return ranked

    def fitting(self, job: UnitOfWork) -> list[NodePool]:
        """Every pool whose hardware can run the job, best first (free or not)."""
        memory, cores = job.memory_requirements_gb, job.cpu_requirements
        return [
            pool
            for _, pool in self.ranked(job.job_type, job.requires_gpu)
            if pool.capabilities.memory_gb >= memory and pool.capabilities.cpu_cores >= cores
        ]

    def choose(self, job: UnitOfWork, among: set[PoolKey] | None = None) -> NodePool | None:
        """The best pool with a free node that can run ``job`` (only pools in ``among`` when
        given), or None."""
        memory, cores = job.memory_requirements_gb, job.cpu_requirements
        excluded = job.excluded_node_ids
        best: NodePool | None = None
        best_total = -1.0
        for base, pool in self.ranked(job.job_type, job.requires_gpu):
            if base + FIT_BONUS_MAX < best_total:
                break
            if among is not None and pool.key not in among:
                continue
            caps = pool.capabilities
            if caps.memory_gb < memory or caps.cpu_cores < cores:
                continue
            if not pool.has_free(excluded):
                continue
            total = base + fit_bonus(memory, cores, caps)
            if total > best_total:
                best, best_total = pool, total
        return best
