"""Preemption: free a node for work that cannot wait.

Who may preempt (see :mod:`.dispatch`): emergencies, work that would miss its deadline waiting for
the next free node, and clients reclaiming their guarantee. Who may be preempted: running work
with ``can_be_preempted`` that is not an emergency, at a lower effective level than the preemptor
(for reclaim: from a client running beyond its guarantee, at no higher level).

What a preemption costs is the work it throws away: nothing for work that checkpoints (it stops
at a checkpoint and resumes elsewhere), and everything since it started for work that does not.
A deadline rescue takes the victim that throws away least, and only when that is at most
``discard_ratio`` hours per hour of work the rescue saves, and only when the victim, having lost
that work and waited for the rescued job, still meets its own deadline. Among victims: least work
thrown away first, then the lowest level, then the most slack.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from dataclasses import dataclass

from render_farm_manager.core.models import RenderNode
from render_farm_manager.core.work import (
    UnitOfWork,
    discarded_hours,
    progress_lost_hours,
    remaining_hours,
)
from render_farm_manager.scheduling.cycle_plan import CycleInputs, CyclePlan, Preemption
from render_farm_manager.scheduling.node_pools import PoolKey, busy_until
from render_farm_manager.scheduling.priority import is_at_risk


@dataclass(frozen=True)
class Victim:
    """Running work that could be preempted, with what the rules need to know about it."""

    node: RenderNode
    job: UnitOfWork
    pool_key: PoolKey
    rank: int
    slack: float
    """Seconds the job could wait before starting again and still meet its deadline, after
    redoing the work a preemption would make it lose."""
    discarded: float
    """Node-hours of work a preemption would throw away now."""

    @property
    def order(self) -> tuple[float, int, float, str]:
        """Best victim first: least work thrown away, lowest level, most slack."""
        return (self.discarded, self.rank, -self.slack, self.node.id)


SCAN_LIMIT = 256
"""Victims examined per preemptor before it gives up for this cycle."""


def _victims(inputs: CycleInputs) -> dict[PoolKey, list[Victim]]:
    """Preemptible running work by pool, best victim first."""
    now = inputs.now
    now_ts = now.timestamp()
    by_pool: dict[PoolKey, list[Victim]] = defaultdict(list)
    for pool in inputs.pools:
        for node in pool.busy:
            job = inputs.running_by_node.get(node.id)
            if job is None or not job.can_be_preempted or job.emergency:
                continue
            slack = inputs.latest_start_of(job) - now_ts - progress_lost_hours(job) * 3600.0
            by_pool[pool.key].append(
                Victim(node, job, pool.key, inputs.rank_of(job), slack, discarded_hours(job, now))
            )
    for victims in by_pool.values():
        victims.sort(key=lambda v: v.order)
    return by_pool


def _earliest_free_seconds(inputs: CycleInputs) -> dict[PoolKey, float]:
    """Per pool, how long until its first busy node is expected to finish."""
    return {
        pool.key: min(
            (
                hours * 3600.0
                for _, hours in busy_until(
                    pool, inputs.running_by_node, inputs.hours_left, inputs.now
                )
            ),
            default=float("inf"),
        )
        for pool in inputs.pools
    }


def _clients_over_guarantee(victims: dict[PoolKey, list[Victim]], inputs: CycleInputs) -> set[str]:
    quotas = inputs.quotas
    if quotas is None:
        return set()
    clients = {v.job.client_id for pool in victims.values() for v in pool}
    return {c for c in clients if quotas.over_guarantee(c)}


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
                earliest = _earliest_free_seconds(inputs)
            wait = min(earliest.get(key, float("inf")) for key in fitting)
            if reason == "deadline" and inputs.latest_start_of(job) - now_ts >= wait:
                continue
            if reason == "reclaim" and wait <= inputs.reclaim_grace_seconds:
                continue
        job_rank = inputs.rank_of(job)
        # A client at its ceiling may only replace its own work.
        own_work_only = quotas is not None and not quotas.may_start(job.client_id)
        saved_hours = remaining_hours(job)
        scan = heapq.merge(
            *(victims[key] for key in fitting if key in victims), key=lambda v: v.order
        )
        for victim in itertools.islice(scan, SCAN_LIMIT):
            node = victim.node
            if node.id in taken or node.id in job.excluded_node_ids:
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
            if reason == "deadline":
                # Victims come least-discarding first: once one throws away more than the
                # rescue is worth, so does every later one.
                if victim.discarded > inputs.discard_ratio * saved_hours:
                    break
                # One rescue must not put another job at risk: the victim waits for the rescued
                # job, then redoes what it lost, and must still meet its deadline with margin.
                wait = inputs.hours_left(job, node) * 3600.0
                if victim.slack < wait + inputs.margin_seconds:
                    continue
            taken.add(node.id)
            plan.preemptions.append(Preemption(victim.job.id, node.id, job.id, reason))
            plan.assignments[job.id] = node.id
            if quotas is not None:
                quotas.stopped(victim.job.client_id)
                quotas.started(job.client_id)
                lenders = _clients_over_guarantee(victims, inputs)
            break
