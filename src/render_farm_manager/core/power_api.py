"""The part of the manager's API about powering nodes down and up. Mixed into
:class:`~render_farm_manager.core.manager.RenderFarmManager`; the rules live in
:mod:`render_farm_manager.energy_optimization.power_plan`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.models import NodeStatus
from render_farm_manager.core.validation import whole_number
from render_farm_manager.energy_optimization.power_plan import PowerPlan, plan_power

if TYPE_CHECKING:
    from render_farm_manager.core.change_path import ChangePath
    from render_farm_manager.core.interfaces import (
        EnergyOptimizerInterface,
        SchedulerInterface,
    )
    from render_farm_manager.core.models import RenderJob
    from render_farm_manager.scheduling.cycle_plan import CyclePlan

MAX_WAKE_MINUTES = 24 * 60.0


def _ids(value: object, name: str) -> set[str]:
    if (
        isinstance(value, str)
        or not isinstance(value, Iterable)
        or not all(isinstance(item, str) for item in value)
    ):
        raise InvalidInputError(
            f"{name} must be a collection of ids, got {type(value).__name__} {value!r}",
            field=name,
        )
    return set(value)


def _minutes(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{name} must be a number of minutes, got {value!r}", field=name)
    minutes = float(value)
    if not 0 <= minutes <= MAX_WAKE_MINUTES:  # also refuses NaN
        raise InvalidInputError(
            f"{name} must be within 0-{MAX_WAKE_MINUTES:g} minutes, got {value!r}", field=name
        )
    return minutes


class PowerAPI:
    _path: ChangePath
    energy_optimizer: EnergyOptimizerInterface
    scheduler: SchedulerInterface
    last_cycle_plan: CyclePlan | None

    if TYPE_CHECKING:

        @property
        def jobs(self) -> dict[str, RenderJob]: ...

    def get_power_down_candidates(
        self, keep_awake: int = 1, ignore: set[str] | None = None
    ) -> list[dict[str, Any]]:
        """Idle nodes that could be powered down now, and when each must be awake again.
        Waiting jobs in ``ignore`` (e.g. those holding out for faster nodes) keep no node
        awake."""
        keep = whole_number(keep_awake, "keep_awake", minimum=0)
        skip = set() if ignore is None else _ids(ignore, "ignore")
        with self._path.lock:
            waiting = [self.jobs[j] for j in self._path.index.queue.ids() if j not in skip]
            advice = self.energy_optimizer.power_down_candidates(
                list(self._path.nodes.values()),
                waiting,
                self._path.now(),
                keep,
                margin_hours=self.scheduler.deadline_safety_margin_hours,
            )
            return [
                {"node_id": a.node_id, "wake_by": a.wake_by, "reason": a.reason} for a in advice
            ]

    def plan_power(
        self,
        asleep: Iterable[str] = (),
        *,
        keep_awake: int = 1,
        wake_minutes: float | Mapping[str, float] | None = None,
        lookahead_minutes: float = 15.0,
    ) -> PowerPlan:
        """Which idle nodes to put to sleep now and which sleeping nodes to wake (and when),
        by the rules of :mod:`~render_farm_manager.energy_optimization.power_plan`.

        ``asleep``: the nodes the caller has put to sleep (each must be a known node that is
        offline). ``wake_minutes``: how long a node takes to wake (one figure, or per node id;
        the energy optimizer's ``wake_up_minutes`` otherwise). Wake orders due within
        ``lookahead_minutes`` (the caller's next look) are returned. Reads only: carrying the
        plan out is the caller's (``set_node_online``), so it goes through the change path.
        """
        sleeping = _ids(asleep, "asleep")
        keep = whole_number(keep_awake, "keep_awake", minimum=0)
        lookahead = _minutes(lookahead_minutes, "lookahead_minutes")
        with self._path.lock:
            nodes = self._path.nodes
            for node_id in sorted(sleeping):
                node = nodes.get(node_id)
                if node is None:
                    raise InvalidInputError(
                        f"asleep names unknown node {node_id!r}", field="asleep"
                    )
                if node.status != NodeStatus.OFFLINE:
                    raise InvalidInputError(
                        f"asleep names node {node_id!r}, which is {node.status.value}, not "
                        "offline (take a node offline to put it to sleep)",
                        field="asleep",
                    )
            if wake_minutes is None:
                leads: dict[str, float] = {}
            elif isinstance(wake_minutes, Mapping):
                leads = {
                    str(k): _minutes(v, f"wake_minutes[{k!r}]") for k, v in wake_minutes.items()
                }
            else:
                lead = _minutes(wake_minutes, "wake_minutes")
                leads = dict.fromkeys(sleeping, lead)
            self._path.index.flush()
            now = self._path.now()
            order = self._path.index.queue.in_order(now.timestamp(), self.scheduler.margin_seconds)
            plan = self.last_cycle_plan
            return plan_power(
                self.energy_optimizer,
                nodes,
                sleeping,
                [self.jobs[job_id] for job_id in order],
                deferred=plan.deferred if plan is not None else {},
                holding=set(plan.waiting_for_faster) if plan is not None else set(),
                now=now,
                keep_awake=keep,
                wake_minutes=leads,
                lookahead=timedelta(minutes=lookahead),
                margin_hours=self.scheduler.deadline_safety_margin_hours,
            )
