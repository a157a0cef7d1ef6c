"""Why an idle node is idle: the measure the seed's utilization floor is judged on.

An awake, online, idle node is in exactly one of these states, checked in this order:

* ``runnable``  a waiting job it could run may start now: its hardware fits, the job is not
  blocklisted from it, and nothing holds the job back. This is idle time the scheduler owes.
* ``deferred``  the only fitting work is held back for cheaper power (a choice);
* ``faster``    the only fitting work waits for faster hardware that is busy (a choice);
* ``quota``     the only fitting work belongs to clients at their ceiling (the contract);
* ``no_work``   no waiting work fits it.

Waiting work is the manager's queue: work whose dependencies are met. Work held by a counted
limit (licences) or a per-job machine limit is counted as runnable, so the measure errs against
the scheduler, never for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping

from render_farm_manager.core.models import RenderNode
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import hardware_misfit
from render_farm_manager.resource_management.quota_book import ceiling_nodes_for
from render_farm_manager.scheduling.feasibility import Shape, job_shape

IDLE_REASONS = ("runnable", "deferred", "faster", "quota", "no_work")
_HELD = IDLE_REASONS[:4]


class IdleClassifier:
    """Classifies idle nodes; remembers which job shapes fit which hardware."""

    def __init__(self) -> None:
        self._fits: dict[tuple[Shape, str], bool] = {}
        self._caps: dict[str, str] = {}

    def _caps_key(self, node: RenderNode) -> str:
        key = self._caps.get(node.id)
        if key is None:
            key = self._caps[node.id] = node.capabilities.model_dump_json()
        return key

    def classify(
        self,
        idle: Iterable[RenderNode],
        waiting: Iterable[UnitOfWork],
        *,
        deferred: Collection[str],
        holding: Collection[str],
        running_by_client: Mapping[str, int],
        ceilings_pct: Mapping[str, float],
        online: int,
    ) -> Counter[str]:
        """How many of the ``idle`` nodes are in each state of :data:`IDLE_REASONS`."""
        blocked = {
            client
            for client, ceiling in ceilings_pct.items()
            if running_by_client.get(client, 0) >= ceiling_nodes_for(ceiling, online)
        }
        groups: dict[str, dict[Shape, tuple[UnitOfWork, list[frozenset[str]] | None]]] = {
            reason: {} for reason in _HELD
        }
        for job in waiting:
            if job.id in deferred:
                reason = "deferred"
            elif job.id in holding:
                reason = "faster"
            elif job.client_id in blocked:
                reason = "quota"
            else:
                reason = "runnable"
            shape = job_shape(job)
            group = groups[reason]
            excluded = job.excluded_node_ids
            entry = group.get(shape)
            if entry is None:
                group[shape] = (job, [frozenset(excluded)] if excluded else None)
            elif entry[1] is not None:
                if excluded:
                    entry[1].append(frozenset(excluded))
                else:
                    group[shape] = (entry[0], None)  # some job of the shape may go anywhere
        counts: Counter[str] = Counter()
        for node in idle:
            counts[self._reason(node, groups)] += 1
        return counts

    def _reason(
        self,
        node: RenderNode,
        groups: Mapping[str, Mapping[Shape, tuple[UnitOfWork, list[frozenset[str]] | None]]],
    ) -> str:
        caps = self._caps_key(node)
        for reason in _HELD:
            for shape, (job, exclusions) in groups[reason].items():
                if exclusions is not None and all(node.id in e for e in exclusions):
                    continue
                key = (shape, caps)
                fit = self._fits.get(key)
                if fit is None:
                    fit = self._fits[key] = hardware_misfit(job, node.capabilities) is None
                if fit:
                    return reason
        return "no_work"
