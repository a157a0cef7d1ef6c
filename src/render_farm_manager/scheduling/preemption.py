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

import heapq
import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from render_farm_manager.core.models import RenderNode
from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.scheduling.cycle_plan import CycleInputs, CyclePlan, Preemption
from render_farm_manager.scheduling.node_pools import NodePool, PoolKey
from render_farm_manager.scheduling.priority import is_at_risk


@dataclass(frozen=True)
class Victim:
    """Running work that could be preempted, with what the rules need to know about it."""

    node: RenderNode
    job: UnitOfWork
    pool_key: PoolKey
    rank: int
    slack: float
    """Seconds the job could still wait before starting and meet its deadline."""

    @property
    def preference(self) -> tuple[bool, int, float, float, str]:
        """Best victim first: checkpointing, lowest level, most slack, least progress."""
        checkpoint = self.job.supports_checkpoint
        return (
            not checkpoint,
            self.rank,
            -self.slack,
            0.0 if checkpoint else self.job.progress,
            self.node.id,
        )

    @property
    def slack_order(self) -> tuple[float, int, str]:
        """Most slack first (deadline preemption)."""
        return (-self.slack, self.rank, self.node.id)


def _preference(victim: Victim) -> tuple[bool, int, float, float, str]:
    return victim.preference


def _slack_order(victim: Victim) -> tuple[float, int, str]:
    return victim.slack_order


SCAN_LIMIT = 256
"""Victims examined per preemptor before it gives up for this cycle."""


def _by_pool(victims: list[Victim], key: Callable[[Victim], Any]) -> dict[PoolKey, list[Victim]]:
    grouped: dict[PoolKey, list[Victim]] = defaultdict(list)
    for victim in sorted(victims, key=key):
        grouped[victim.pool_key].append(victim)
    return grouped


def _victims(inputs: CycleInputs) -> list[Victim]:
    """Preemptible running work, best victim first: checkpointing, lowest level, most slack,
    least progress."""
    now_ts = inputs.now.timestamp()
    found = []
    for pool in inputs.pools:
        for node in pool.busy:
            job = inputs.running_by_node.get(node.id)
            if job is None or not job.can_be_preempted or job.emergency:
                continue
            found.append(
                Victim(
                    node, job, pool.key, inputs.rank_of(job), inputs.latest_start_of(job) - now_ts
                )
            )
    return found


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


def _clients_over_guarantee(victims: list[Victim], inputs: CycleInputs) -> set[str]:
    quotas = inputs.quotas
    if quotas is None:
        return set()
    return {c for c in {v.job.client_id for v in victims} if quotas.over_guarantee(c)}


def _reason(job: UnitOfWork, inputs: CycleInputs, now_ts: float) -> str:
    if job.emergency:
        return "emergency"
    if is_at_risk(inputs.latest_start_of(job), now_ts, inputs.margin_seconds):
        return "deadline"
    return "reclaim"


def plan_preemptions(candidates: list[UnitOfWork], inputs: CycleInputs, plan: CyclePlan) -> None:
    quotas = inputs.quotas
    victims = _victims(inputs)
    if not victims:
        return
    # Deadline preemption takes only checkpointing work with slack to spare: most slack first,
    # so a scan stops at the first victim without enough.
    preferred = _by_pool(victims, lambda v: v.preference)
    by_slack = _by_pool([v for v in victims if v.job.supports_checkpoint], lambda v: v.slack_order)
    earliest: dict[PoolKey, float] | None = None
    taken: set[str] = set()
    now_ts = inputs.now.timestamp()
    lenders = _clients_over_guarantee(victims, inputs)
    for job in candidates:
        if len(plan.preemptions) >= inputs.max_preemptions:
            break
        fitting = {pool.key for pool in inputs.ranker.fitting(job)}
        if not fitting:
            continue
        reason = _reason(job, inputs, now_ts)
        if reason in ("deadline", "reclaim"):
            # Only when waiting for the next fitting node would miss the deadline, or (for a
            # guarantee) take longer than the grace period: natural turnover costs no work.
            if earliest is None:
                earliest = _earliest_free_seconds(inputs.pools, inputs)
            wait = min(earliest.get(key, float("inf")) for key in fitting)
            if reason == "deadline" and inputs.latest_start_of(job) - now_ts >= wait:
                continue
            if reason == "reclaim" and wait <= inputs.reclaim_grace_seconds:
                continue
        job_rank = inputs.rank_of(job)
        # A client at its ceiling may only replace its own work.
        own_work_only = quotas is not None and not quotas.may_start(job.client_id)
        needed_slack = remaining_hours(job) * 3600.0 + inputs.margin_seconds
        index, order = (
            (by_slack, _slack_order) if reason == "deadline" else (preferred, _preference)
        )
        scan = heapq.merge(*(index[key] for key in fitting if key in index), key=order)
        for victim in itertools.islice(scan, SCAN_LIMIT):
            node = victim.node
            if reason == "deadline" and victim.slack < needed_slack:
                break  # one rescue must not put another job at risk
            if node.id in taken or victim.pool_key not in fitting:
                continue
            if node.id in job.excluded_node_ids:
                continue
            same_client = victim.job.client_id == job.client_id
            if (same_client and reason == "reclaim") or (own_work_only and not same_client):
                continue
            if reason == "reclaim":
                # Guarantees are a contract: any preemptible work of a client above its own
                # guarantee, at no higher level.
                if victim.job.client_id not in lenders or victim.rank > job_rank:
                    continue
            elif victim.rank >= job_rank:
                continue
            taken.add(node.id)
            plan.preemptions.append(Preemption(victim.job.id, node.id, job.id, reason))
            plan.assignments[job.id] = node.id
            if quotas is not None:
                quotas.stopped(victim.job.client_id)
                quotas.started(job.client_id)
                lenders = _clients_over_guarantee(victims, inputs)
            break
