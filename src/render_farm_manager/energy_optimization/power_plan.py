"""The farm's power policy: which idle nodes to put to sleep, which sleeping nodes to wake.

The manager decides (:meth:`RenderFarmManager.plan_power`); whoever controls the machines (the
simulator, an executor, a site's power-management script) carries the plan out and tells the
manager which nodes it has put to sleep. Sleeping a node is taking it offline through the
manager (``set_node_online(node_id, online=False)``) and waking it is bringing it back online,
so every power change goes through the manager's one change path and is audited.

The rules:

* a sleeping node is woken at once when waiting work that may start now fits its hardware, and
  ahead of time (its wake-up lead) for work deferred to cheaper power that fits it;
* work waiting for faster hardware that is busy keeps no node awake;
* while work that may start now waits and an idle node is awake, nothing is put to sleep;
* otherwise idle nodes that no waiting work fits go to sleep, except the ``keep_awake`` most
  efficient ones (for emergencies), each with the time it must be awake again, if any.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from render_farm_manager.core.interfaces.energy_optimizer import EnergyOptimizerInterface
from render_farm_manager.core.models import NodeStatus, RenderNode
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.energy_optimization.energy_optimizer import PowerDownAdvice
from render_farm_manager.node_specialization.fit import hardware_misfit


@dataclass(frozen=True)
class WakeOrder:
    """Wake ``node_id`` at ``wake_at`` (it is ready its wake-up lead later)."""

    node_id: str
    wake_at: datetime
    reason: str


@dataclass(frozen=True)
class PowerPlan:
    sleep: list[PowerDownAdvice] = field(default_factory=list)
    """Idle nodes to put to sleep now, each with when it must be awake again (or None)."""
    wake: list[WakeOrder] = field(default_factory=list)
    """Sleeping nodes to wake, each at its time (within the plan's look-ahead)."""


def _hardware_key(node: RenderNode) -> str:
    """Nodes with the same declared hardware wake for the same work."""
    return node.capabilities.model_dump_json()


def plan_power(
    optimizer: EnergyOptimizerInterface,
    nodes: Mapping[str, RenderNode],
    asleep: Collection[str],
    waiting: Sequence[UnitOfWork],
    *,
    deferred: Mapping[str, datetime],
    holding: Collection[str],
    now: datetime,
    keep_awake: int,
    wake_minutes: Mapping[str, float],
    lookahead: timedelta,
    margin_hours: float | None = None,
) -> PowerPlan:
    """The power plan for ``nodes`` now (see the module's rules). ``waiting`` is the eligible
    waiting work in scheduling order, ``deferred`` what the last cycle held for cheaper power
    (id → planned start), ``holding`` what it left waiting for faster busy hardware."""
    candidates = [job for job in waiting if job.id not in holding]
    wake: list[WakeOrder] = []
    decided: dict[str, tuple[datetime, str] | None] = {}
    for node_id in sorted(asleep):
        node = nodes[node_id]
        key = _hardware_key(node)
        if key not in decided:
            decided[key] = _wake_time(node, candidates, deferred, now)
        due = decided[key]
        if due is None:
            continue
        start, reason = due
        lead = timedelta(minutes=wake_minutes.get(node_id, optimizer.wake_up_minutes))
        wake_at = max(now, start - lead)
        if wake_at <= now + lookahead:
            wake.append(WakeOrder(node_id, wake_at, reason))
    runnable = any(job.id not in deferred for job in candidates)
    idle_awake = any(
        n.status == NodeStatus.ONLINE and n.current_job_id is None and not n.draining
        for n in nodes.values()
        if n.id not in asleep
    )
    if runnable and idle_awake:
        return PowerPlan(sleep=[], wake=wake)
    sleep = optimizer.power_down_candidates(
        [n for n in nodes.values() if n.id not in asleep],
        candidates,
        now,
        keep_awake,
        margin_hours=margin_hours,
    )
    return PowerPlan(sleep=sleep, wake=wake)


def _wake_time(
    node: RenderNode,
    candidates: Sequence[UnitOfWork],
    deferred: Mapping[str, datetime],
    now: datetime,
) -> tuple[datetime, str] | None:
    """When work that fits ``node`` wants to start (now, or a deferred start), and why."""
    best: tuple[datetime, str] | None = None
    for job in candidates:
        if hardware_misfit(job, node.capabilities) is not None:
            continue
        start = deferred.get(job.id)
        if start is None:
            return now, f"job {job.id} waits and fits it"
        if best is None or start < best[0]:
            best = (start, f"job {job.id}, deferred to cheaper power, starts then")
    return best
