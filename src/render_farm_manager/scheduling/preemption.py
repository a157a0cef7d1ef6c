"""Preemption: free a node for work that cannot wait.

Who may preempt (see :mod:`.dispatch`): emergencies, work that would miss its deadline waiting for
the next free node, and clients reclaiming their guarantee. Who may be preempted: running work
with ``can_be_preempted`` that is not an emergency, at a lower effective level than the preemptor
(for reclaim: from a client running beyond its guarantee, at no higher level). For a deadline,
only work that checkpoints is taken, so at most one checkpoint interval of work is lost, and only
work with slack enough to wait for the preemptor to finish and still start in time;
emergencies and guarantee reclaim may also take work that does not checkpoint. Among
victims: checkpointing first, then the lowest level, then the most slack, then the least
progress.
"""

from __future__ import annotations

from render_farm_manager.core.models import RenderNode
from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.scheduling.cycle_plan import CycleInputs, CyclePlan, Preemption
from render_farm_manager.scheduling.node_pools import NodePool, PoolKey


def _victims(inputs: CycleInputs) -> list[tuple[RenderNode, UnitOfWork, PoolKey]]:
    """Preemptible running work, best victim first."""
    now_ts = inputs.now.timestamp()
    rank_of, latest_start_of = inputs.rank_of, inputs.latest_start_of
    keyed = []
    for pool in inputs.pools:
        for node in pool.busy:
            job = inputs.running_by_node.get(node.id)
            if job is None or not job.can_be_preempted or job.emergency:
                continue
            checkpoint = job.supports_checkpoint
            key = (
                not checkpoint,
                rank_of(job),
                now_ts - latest_start_of(job),
                0.0 if checkpoint else job.progress,
            )
            keyed.append((key, node.id, node, job, pool.key))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [(node, job, pool_key) for _, _, node, job, pool_key in keyed]


def _earliest_free_seconds(pools: list[NodePool], inputs: CycleInputs) -> dict[PoolKey, float]:
    """Per pool, how long until its first busy node is expected to finish."""
    earliest: dict[PoolKey, float] = {}
    for pool in pools:
        best = float("inf")
        for node in pool.busy:
            job = inputs.running_by_node.get(node.id)
            if job is not None:
                best = min(best, remaining_hours(job) * 3600.0 / inputs.speed_of(job, pool))
        earliest[pool.key] = best
    return earliest


def plan_preemptions(candidates: list[UnitOfWork], inputs: CycleInputs, plan: CyclePlan) -> None:
    quotas = inputs.quotas
    victims = _victims(inputs)
    if not victims:
        return
    earliest: dict[PoolKey, float] | None = None
    taken: set[str] = set()
    now_ts = inputs.now.timestamp()
    for job in candidates:
        if len(plan.preemptions) >= inputs.max_preemptions:
            break
        fitting = {pool.key for pool in inputs.ranker.fitting(job)}
        if not fitting:
            continue
        if job.emergency:
            reason = "emergency"
        elif 0 <= inputs.latest_start_of(job) - now_ts < inputs.margin_seconds:
            reason = "deadline"
        else:
            reason = "reclaim"
        if reason == "deadline":
            # Only when waiting for the next node to free up would miss the deadline.
            if earliest is None:
                earliest = _earliest_free_seconds(inputs.pools, inputs)
            wait = min(earliest.get(key, float("inf")) for key in fitting)
            if inputs.latest_start_of(job) - now_ts >= wait:
                continue
        job_rank = inputs.rank_of(job)
        job_seconds = remaining_hours(job) * 3600.0
        # A client at its ceiling may only replace its own work.
        own_work_only = quotas is not None and not quotas.may_start(job.client_id)
        for node, victim, key in victims:
            if node.id in taken or key not in fitting or node.id in job.excluded_node_ids:
                continue
            # Deadline preemption never throws work away: it takes only checkpointing victims, and
            # only those with slack enough to wait for the preemptor and still start in time
            # (so that one rescue does not put another job at risk). Emergencies and guarantees
            # (a contract) may take any preemptible work.
            if reason == "deadline":
                if not victim.supports_checkpoint:
                    continue
                victim_slack = inputs.latest_start_of(victim) - now_ts
                if victim_slack < job_seconds + inputs.margin_seconds:
                    continue
            same_client = victim.client_id == job.client_id
            if (same_client and reason == "reclaim") or (own_work_only and not same_client):
                continue
            victim_rank = inputs.rank_of(victim)
            if reason == "reclaim":
                if quotas is None or not quotas.over_guarantee(victim.client_id):
                    continue
                if victim_rank > job_rank:
                    continue
            elif victim_rank >= job_rank:
                continue
            taken.add(node.id)
            plan.preemptions.append(Preemption(victim.id, node.id, job.id, reason))
            plan.assignments[job.id] = node.id
            if quotas is not None:
                quotas.stopped(victim.client_id)
                quotas.started(job.client_id)
            break
