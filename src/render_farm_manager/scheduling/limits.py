"""Counted resources and machine limits: a licence pool (10 Arnold licences) that running work
holds, and the most nodes one job may use at once. Placement never exceeds either."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from render_farm_manager.core.work import UnitOfWork


_NO_FIELDS: dict[str, object] = {}


def _fields(work: UnitOfWork) -> Mapping[str, object]:
    """The work's own fields (cheap to probe; other units of work may have none of these)."""
    fields: Mapping[str, object] = getattr(work, "__dict__", _NO_FIELDS)
    return fields


def _limits_of(work: UnitOfWork) -> Mapping[str, int]:
    limits = _fields(work).get("limits")
    return limits if isinstance(limits, dict) else {}


def _shot_of(work: UnitOfWork) -> str:
    shot = _fields(work).get("job_id")  # a task counts against its shot
    return shot if isinstance(shot, str) else work.id


class LimitBook:
    """What running work holds, and whether one more piece of work may start."""

    def __init__(self, capacity: Mapping[str, int], running: Iterable[UnitOfWork]) -> None:
        self.capacity = dict(capacity)
        self.in_use: Counter[str] = Counter()
        self.nodes_of: Counter[str] = Counter()
        for work in running:
            self.started(work)

    def problem(self, work: UnitOfWork) -> str | None:
        """Why ``work`` may not start now, or None. A limit nobody defined does not hold work
        back (the farm has not said how many there are)."""
        machine_limit = _fields(work).get("machine_limit")
        if isinstance(machine_limit, int):
            shot = _shot_of(work)
            if self.nodes_of[shot] >= machine_limit:
                return f"job {shot} already runs on {machine_limit} nodes, its machine limit"
        if not self.capacity:
            return None
        for name, amount in _limits_of(work).items():
            capacity = self.capacity.get(name)
            if capacity is not None and self.in_use[name] + amount > capacity:
                return f"limit {name!r} is in use ({self.in_use[name]} of {capacity})"
        return None

    def may_start(self, work: UnitOfWork) -> bool:
        return self.problem(work) is None

    def started(self, work: UnitOfWork) -> None:
        self.nodes_of[_shot_of(work)] += 1
        for name, amount in _limits_of(work).items():
            self.in_use[name] += amount

    def release(self, work: UnitOfWork) -> None:
        """Running work stops (preempted): what it held is free again."""
        self.nodes_of[_shot_of(work)] -= 1
        for name, amount in _limits_of(work).items():
            self.in_use[name] -= amount
