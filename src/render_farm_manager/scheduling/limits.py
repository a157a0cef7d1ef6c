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
    """What running work holds, and whether one more piece of work may start. The running work
    is counted only once some work asks (a farm without limits pays nothing for them)."""

    def __init__(self, capacity: Mapping[str, int], running: Iterable[UnitOfWork]) -> None:
        self.capacity = dict(capacity)
        self._in_use: Counter[str] = Counter()
        self._nodes_of: Counter[str] = Counter()
        self._uncounted: list[tuple[UnitOfWork, int]] | None = [(w, 1) for w in running]

    def _counted(self) -> tuple[Counter[str], Counter[str]]:
        if self._uncounted is not None:
            pending, self._uncounted = self._uncounted, None
            for work, sign in pending:
                self._add(work, sign)
        return self._in_use, self._nodes_of

    def _add(self, work: UnitOfWork, sign: int) -> None:
        self._nodes_of[_shot_of(work)] += sign
        for name, amount in _limits_of(work).items():
            self._in_use[name] += sign * amount

    def problem(self, work: UnitOfWork) -> str | None:
        """Why ``work`` may not start now, or None. A limit nobody defined does not hold work
        back (the farm has not said how many there are)."""
        machine_limit = _fields(work).get("machine_limit")
        if isinstance(machine_limit, int):
            shot = _shot_of(work)
            nodes_of = self._counted()[1]
            if nodes_of[shot] >= machine_limit:
                return f"job {shot} already runs on {machine_limit} nodes, its machine limit"
        if not self.capacity:
            return None
        limits = _limits_of(work)
        if not limits:
            return None
        in_use = self._counted()[0]
        for name, amount in limits.items():
            capacity = self.capacity.get(name)
            if capacity is not None and in_use[name] + amount > capacity:
                return f"limit {name!r} is in use ({in_use[name]} of {capacity})"
        return None

    def may_start(self, work: UnitOfWork) -> bool:
        return self.problem(work) is None

    def started(self, work: UnitOfWork) -> None:
        if self._uncounted is not None:
            self._uncounted.append((work, 1))
        else:
            self._add(work, 1)

    def release(self, work: UnitOfWork) -> None:
        """Running work stops (preempted): what it held is free again."""
        if self._uncounted is not None:
            self._uncounted.append((work, -1))
        else:
            self._add(work, -1)
