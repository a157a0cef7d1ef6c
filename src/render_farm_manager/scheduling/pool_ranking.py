"""Which pool a job should go to: pools ranked per (job type, GPU need), then the best free one
whose hardware fits the job, with a bonus for a snug fit.

With the shipped matcher, a pool's base score depends only on the job's type and GPU need, so it
is computed once per cycle for each kind of job. A matcher written by a user is asked for each job
and pool instead (``calculate_performance_score`` on one node of the pool).
"""

from __future__ import annotations

from render_farm_manager.core.interfaces import NodeSpecializerInterface
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import hardware_misfit
from render_farm_manager.node_specialization.scoring import FIT_BONUS_MAX, fit_bonus
from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)
from render_farm_manager.scheduling.feasibility import Shape, job_shape
from render_farm_manager.scheduling.node_pools import NodePool, PoolKey

RankedPools = list[tuple[float, NodePool]]


class PoolRanker:
    def __init__(
        self, pools: list[NodePool], matcher: NodeSpecializerInterface, energy_weight: float = 0.0
    ) -> None:
        self.pools = pools
        self.matcher = matcher
        self.energy_weight = energy_weight
        self._ranked: dict[tuple[str, bool], RankedPools] = {}
        self._fitting: dict[Shape, list[NodePool]] = {}

    def ranked(self, job: UnitOfWork) -> RankedPools:
        """Pools that meet the job's GPU need, best base score first."""
        matcher = self.matcher
        if not isinstance(matcher, NodeSpecializationManager):
            scored = [
                (matcher.calculate_performance_score(job, p.representative), p)
                for p in self.pools
                if not job.requires_gpu or p.capabilities.gpu_count > 0
            ]
            scored.sort(key=lambda item: -item[0])
            return scored
        key = (job.job_type, job.requires_gpu)
        ranked = self._ranked.get(key)
        if ranked is None:
            ranked = [
                (
                    matcher.base_score(
                        job.job_type, job.requires_gpu, p.representative, self.energy_weight
                    ),
                    p,
                )
                for p in self.pools
                if not job.requires_gpu or p.capabilities.gpu_count > 0
            ]
            ranked.sort(key=lambda item: -item[0])
            self._ranked[key] = ranked
        return ranked

    def fitting(self, job: UnitOfWork) -> list[NodePool]:
        """Every pool whose hardware can run the job, best first (free or not); the same for
        every job of one shape (with the shipped matcher)."""
        shape = job_shape(job)
        found = self._fitting.get(shape)
        if found is None:
            found = [
                pool
                for _, pool in self.ranked(job)
                if hardware_misfit(job, pool.capabilities) is None
            ]
            if isinstance(self.matcher, NodeSpecializationManager):
                self._fitting[shape] = found
        return found

    def choose(self, job: UnitOfWork, among: set[PoolKey] | None = None) -> NodePool | None:
        """The best pool with a free node that can run ``job`` (only pools in ``among`` when
        given), or None."""
        excluded = job.excluded_node_ids
        bonus = isinstance(self.matcher, NodeSpecializationManager)
        best: NodePool | None = None
        best_total = -1.0
        for base, pool in self.ranked(job):
            if base + (FIT_BONUS_MAX if bonus else 0.0) < best_total:
                break
            if among is not None and pool.key not in among:
                continue
            caps = pool.capabilities
            if hardware_misfit(job, caps) is not None or not pool.has_free(excluded):
                continue
            total = base
            if bonus:
                total += fit_bonus(job.memory_requirements_gb, job.cpu_requirements, caps)
            if total > best_total:
                best, best_total = pool, total
        return best
