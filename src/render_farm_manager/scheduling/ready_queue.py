"""The queue of work that could start now, kept in scheduling order incrementally.

Work is bucketed by base rank (after inheritance) and sorted inside a bucket by latest start time,
and again by deadline. Because a waiting job's latest start does not move while it waits, the
work at risk and the late work at any moment are contiguous ranges of the first order (see
:mod:`.priority`); work with slack to spare is read in deadline order. A cycle reads only as many
jobs as it can place, whatever the queue's length.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from sortedcontainers import SortedList

from render_farm_manager.scheduling.priority import EMERGENCY_RANK, MAX_BASE_RANK

_Entry = tuple[float, int, str]


@dataclass(frozen=True)
class QueuePosition:
    base_rank: int
    latest_start: float
    client_id: str
    hours: float = 0.0
    deadline: float = 0.0
    """When the work must be done (its own deadline, or earlier for work others wait on)."""
    since: float | None = None
    """When it began waiting (its submission), for the starvation guard; None: not tracked."""
    gpu: bool = False
    """It needs a GPU."""
    memory_gb: float = 0.0
    """The memory it needs (scarce large-memory nodes are kept for work that needs them)."""


def _due(position: QueuePosition, entry: _Entry) -> tuple[float, int, str, float]:
    return (position.deadline, entry[1], entry[2], position.latest_start)


class ReadyQueue:
    """Eligible waiting work by (level, slack). Stores ids; the caller owns the objects."""

    def __init__(self) -> None:
        self._buckets: list[SortedList] = [SortedList() for _ in range(EMERGENCY_RANK + 1)]
        self._by_deadline: list[SortedList] = [SortedList() for _ in range(EMERGENCY_RANK + 1)]
        """The same entries per level as (deadline, sequence, id, latest start)."""
        self._by_since: SortedList = SortedList()
        """(since, sequence, id) of the work below the top level whose wait is tracked."""
        self._positions: dict[str, tuple[QueuePosition, _Entry]] = {}
        self._sequence = itertools.count()
        self.waiting_by_client: Counter[str] = Counter()
        self.waiting_for_gpu = 0
        """Queued work that needs a GPU."""
        self._memory: SortedList = SortedList()
        """The memory each queued unit of work needs."""
        self.total_hours = 0.0
        """Work left in the queue, in hours at reference speed."""
        self._journal: list[tuple[str, tuple[QueuePosition, _Entry] | None]] | None = None

    def __len__(self) -> int:
        return len(self._positions)

    def __contains__(self, work_id: object) -> bool:
        return work_id in self._positions

    def ids(self) -> list[str]:
        """Every queued id, in no particular order."""
        return list(self._positions)

    def waiting_for_memory_above(self, memory_gb: float) -> int:
        """Queued work that needs more than ``memory_gb`` of memory."""
        above: int = len(self._memory) - self._memory.bisect_right(memory_gb)
        return above

    def sequence_of(self, work_id: str) -> int:
        """When the work was (last) queued, relative to the rest (-1 when it is not queued)."""
        found = self._positions.get(work_id)
        return found[1][1] if found else -1

    def position(self, work_id: str) -> QueuePosition | None:
        found = self._positions.get(work_id)
        return found[0] if found else None

    def put(
        self,
        work_id: str,
        client_id: str,
        base_rank: int,
        latest_start: float,
        hours: float = 0.0,
        deadline: float | None = None,
        since: float | None = None,
        gpu: bool = False,
        memory_gb: float = 0.0,
    ) -> None:
        """Add the work (``hours`` of it left, due by ``deadline``; by default its latest start
        plus those hours; waiting since ``since``; needing a GPU or ``memory_gb``), or move it
        if its rank, latest start or deadline changed."""
        due = latest_start + hours * 3600.0 if deadline is None else deadline
        position = QueuePosition(
            base_rank, latest_start, client_id, hours, due, since, gpu, memory_gb
        )
        existing = self._positions.get(work_id)
        if existing is not None:
            if existing[0] == position:
                return
            self.discard(work_id)
        entry = (latest_start, next(self._sequence), work_id)
        self._insert(work_id, position, entry)
        if self._journal is not None:
            self._journal.append((work_id, None))

    def discard(self, work_id: str) -> bool:
        found = self._remove(work_id)
        if found is None:
            return False
        if self._journal is not None:
            self._journal.append((work_id, found))
        return True

    def _insert(self, work_id: str, position: QueuePosition, entry: _Entry) -> None:
        self._buckets[position.base_rank].add(entry)
        self._by_deadline[position.base_rank].add(_due(position, entry))
        if position.since is not None and position.base_rank < MAX_BASE_RANK:
            self._by_since.add((position.since, entry[1], work_id))
        self._positions[work_id] = (position, entry)
        self.waiting_by_client[position.client_id] += 1
        self.total_hours += position.hours
        self.waiting_for_gpu += position.gpu
        self._memory.add(position.memory_gb)

    def _remove(self, work_id: str) -> tuple[QueuePosition, _Entry] | None:
        found = self._positions.pop(work_id, None)
        if found is None:
            return None
        position, entry = found
        self._buckets[position.base_rank].remove(entry)
        self._by_deadline[position.base_rank].remove(_due(position, entry))
        if position.since is not None and position.base_rank < MAX_BASE_RANK:
            self._by_since.remove((position.since, entry[1], work_id))
        self.total_hours = max(0.0, self.total_hours - position.hours) if self._positions else 0.0
        self.waiting_for_gpu -= position.gpu
        self._memory.remove(position.memory_gb)
        self.waiting_by_client[position.client_id] -= 1
        if self.waiting_by_client[position.client_id] <= 0:
            del self.waiting_by_client[position.client_id]
        return found

    # -- undoing a change ----------------------------------------------------------------------

    def begin_journal(self) -> None:
        """Record every put and discard from now on, so that :meth:`undo_journal` can restore
        the queue exactly (order among equals included)."""
        self._journal = []

    def end_journal(self) -> list[str]:
        """Stop recording; returns the ids put or discarded meanwhile (with repeats)."""
        journal, self._journal = self._journal or [], None
        return [work_id for work_id, _ in journal]

    def requeue_at(self, work_id: str, sequence: int) -> None:
        """Give queued work the place among equals it had (``sequence`` from
        :meth:`sequence_of`, e.g. before a restart). Call :meth:`count_on` afterwards."""
        found = self._remove(work_id)
        if found is None:
            return
        position, (latest_start, _, _) = found
        self._insert(work_id, position, (latest_start, sequence, work_id))

    def count_on(self) -> None:
        """Work queued from now on comes after all work queued so far."""
        last = max((entry[1] for _, entry in self._positions.values()), default=-1)
        self._sequence = itertools.count(last + 1)

    def undo_journal(self) -> None:
        journal, self._journal = self._journal or [], None
        for work_id, removed in reversed(journal):
            if removed is None:  # it was put: take it out again
                self._remove(work_id)
            else:  # it was discarded: put back exactly what was there
                self._insert(work_id, *removed)

    def _range(self, rank: int, low: float | None, high: float | None) -> Iterator[_Entry]:
        minimum = None if low is None else (low,)
        maximum = None if high is None else (high,)
        return self._buckets[rank].irange(minimum, maximum, inclusive=(True, False))  # type: ignore[no-any-return]

    def in_order(
        self,
        now: float,
        margin_seconds: float,
        starving_since: float | None = None,
        starving_limit: int = 1,
    ) -> Iterator[str]:
        """Ids in scheduling order at ``now``: emergencies; then work at risk of missing its
        deadline, whatever its priority, by least slack; then up to ``starving_limit`` units
        below the top level that have waited since ``starving_since`` or earlier (longest wait
        first: the starvation guard, so that a flood of higher-priority work with time to spare
        never stops lower-priority work for good); then level by level (critical first), late
        work (by least slack) before work with slack to spare, which goes earliest deadline
        first (least slack would put the longest job first among work due at once)."""
        soon = now + margin_seconds
        for entry in self._range(EMERGENCY_RANK, None, None):
            yield entry[2]
        at_risk = [self._range(level, now, soon) for level in range(MAX_BASE_RANK + 1)]
        for entry in heapq.merge(*at_risk):
            yield entry[2]
        given = self._starving(now, soon, starving_since, starving_limit)
        yield from given
        for level in range(MAX_BASE_RANK, -1, -1):
            for entry in self._range(level, None, now):
                if not given or entry[2] not in given:
                    yield entry[2]
            for _, _, work_id, latest in self._by_deadline[level]:
                if latest >= soon and (not given or work_id not in given):
                    yield work_id

    def _starving(self, now: float, soon: float, before: float | None, limit: int) -> list[str]:
        """The longest-waiting work that has waited since ``before`` or earlier and is not at
        risk (already served), at most ``limit`` of it."""
        if before is None or limit <= 0:
            return []
        found: list[str] = []
        for since, _, work_id in self._by_since:
            if since > before or len(found) >= limit:
                break
            latest = self._positions[work_id][0].latest_start
            if not now <= latest < soon:
                found.append(work_id)
        return found
