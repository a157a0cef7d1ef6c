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

from collections.abc import Collection, Iterable, Mapping

from render_farm_manager.core.models import RenderNode
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import hardware_misfit
from render_farm_manager.resource_management.quota_book import ceiling_nodes_for
from render_farm_manager.scheduling.feasibility import Shape, hardware_shape

IDLE_REASONS = ("runnable", "deferred", "faster", "quota", "no_work")
_HELD = IDLE_REASONS[:4]


class IdleClassifier:
    """Classifies idle nodes; remembers which job shapes fit which hardware."""

    def __init__(self) -> None:
        self._fits: dict[tuple[Shape, str], bool] = {}
        self._caps: dict[str, str] = {}
        self._shapes: dict[str, Shape] = {}

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
    ) -> dict[str, str]:
        """The state (of :data:`IDLE_REASONS`) of each of the ``idle`` nodes, by node id.

        One pass over the waiting work: each job improves the state of the idle nodes it fits
        (grouped by hardware, so the cost is the work times the kinds of idle hardware), and
        the pass stops once every idle node is owed work. A job that excludes no node does
        exactly what an earlier one of the same shape and rank did, so it is passed over."""
        blocked = {
            client
            for client, ceiling in ceilings_pct.items()
            if running_by_client.get(client, 0) >= ceiling_nodes_for(ceiling, online)
        }
        worst = len(_HELD)
        groups: dict[str, list[RenderNode]] = {}
        for node in idle:
            groups.setdefault(self._caps_key(node), []).append(node)
        state = {node.id: worst for members in groups.values() for node in members}
        laggard = dict.fromkeys(groups, worst)
        """Per kind of hardware, the worst state any of its nodes is still in."""
        open_kinds = len(groups)
        shapes = self._shapes
        fits = self._fits
        done: set[tuple[Shape, int]] = set()
        """(shape, rank) of the jobs already applied that exclude no node."""
        for job in waiting:
            job_id = job.id
            if job_id in deferred:
                rank = 1
            elif job_id in holding:
                rank = 2
            elif job.client_id in blocked:
                rank = 3
            else:
                rank = 0
            shape = shapes.get(job_id)
            if shape is None:
                shape = shapes[job_id] = hardware_shape(job)
            excluded = job.excluded_node_ids
            if not excluded:
                if (shape, rank) in done:
                    continue
                done.add((shape, rank))
            for caps, members in groups.items():
                if laggard[caps] <= rank:
                    continue
                fit = fits.get((shape, caps))
                if fit is None:
                    fit = fits[shape, caps] = hardware_misfit(job, members[0].capabilities) is None
                if not fit:
                    continue
                for node in members:
                    if state[node.id] > rank and node.id not in excluded:
                        state[node.id] = rank
                laggard[caps] = max(state[node.id] for node in members)
                if laggard[caps] == 0:
                    open_kinds -= 1
            if open_kinds == 0:
                break
        return {node_id: IDLE_REASONS[rank] for node_id, rank in state.items()}
