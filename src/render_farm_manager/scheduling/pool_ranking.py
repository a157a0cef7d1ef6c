"""Which pool a job should go to: pools ranked per (job type, GPU need), then the best free one
whose hardware fits the job, with a bonus for a snug fit.

With the shipped matcher, a pool's score without energy depends only on the job's type and GPU
need, so it is computed once per cycle for each kind of job; in energy mode it is blended with
the rating of the node the pool would hand out next (its most efficient free node). Pools are
ranked by their best possible score (with the pool's top rating), so a search stops as soon as no
pool further down can beat the best found. A matcher written by a user is asked for each job and
pool instead (``calculate_performance_score`` on one node of the pool).
"""

from __future__ import annotations

from render_farm_manager.core.interfaces import NodeSpecializerInterface
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import hardware_misfit
from render_farm_manager.node_specialization.scoring import (
    FIT_BONUS_MAX,
    fit_bonus,
    with_efficiency,
)
from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)
from render_farm_manager.scheduling.feasibility import Shape, job_shape
from render_farm_manager.scheduling.node_pools import NodePool, PoolKey

RankedPools = list[tuple[float, float, NodePool]]
"""(best possible base score, base score without energy, pool), best possible first."""


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
        """Pools that meet the job's GPU need, best possible base score first."""
        matcher = self.matcher
        if not isinstance(matcher, NodeSpecializationManager):
            scored = []
            for p in self.pools:
                if not job.requires_gpu or p.capabilities.gpu_count > 0:
                    score = matcher.calculate_performance_score(job, p.representative)
                    scored.append((score, score, p))
            scored.sort(key=lambda item: -item[0])
            return scored
        key = (job.job_type, job.requires_gpu)
        ranked = self._ranked.get(key)
        if ranked is None:
            ranked = []
            for p in self.pools:
                if not job.requires_gpu or p.capabilities.gpu_count > 0:
                    score = matcher.base_score(job.job_type, job.requires_gpu, p.representative)
                    best = with_efficiency(score, p.top_rating, self.energy_weight)
                    ranked.append((best, score, p))
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
                for _, _, pool in self.ranked(job)
                if hardware_misfit(job, pool.capabilities) is None
            ]
            if isinstance(self.matcher, NodeSpecializationManager):
                self._fitting[shape] = found
        return found

    def choose(self, job: UnitOfWork, among: set[PoolKey] | None = None) -> NodePool | None:
        """The best pool with a free node that can run ``job`` (only pools in ``among`` when
        given), or None."""
        excluded = job.excluded_node_ids
        shipped = isinstance(self.matcher, NodeSpecializationManager)
        energy_weight = self.energy_weight if shipped else 0.0
        best: NodePool | None = None
        best_total = -1.0
        for best_possible, score, pool in self.ranked(job):
            if best_possible + (FIT_BONUS_MAX if shipped else 0.0) < best_total:
                break
            if among is not None and pool.key not in among:
                continue
            caps = pool.capabilities
            if hardware_misfit(job, caps) is not None:
                continue
            node = pool.best_free(excluded)
            if node is None:
                continue
            total = score
            if shipped:
                # the rating of the node the pool would hand out, then the snug-fit bonus
                total = with_efficiency(score, float(node.power_efficiency_rating), energy_weight)
                total += fit_bonus(job.memory_requirements_gb, job.cpu_requirements, caps)
            if total > best_total:
                best, best_total = pool, total
        return best
