"""Time for the decision core comes from an injected clock, never from ``datetime.now()``.

The system clock and a manual (simulated) clock share one interface, so the same scheduling code
runs live and in simulation. All times are naive datetimes in local wall-clock time, matching the
seed API's use of ``datetime.now()``; aware datetimes given by callers are converted at the model
boundary (see :func:`to_naive_local`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from render_farm_manager.core.errors import ClockError


@runtime_checkable
class Clock(Protocol):
    """Anything that can tell the current time."""

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time of this machine (naive, local)."""

    def now(self) -> datetime:
        return datetime.now()


class ManualClock:
    """A clock that moves only when told to: for simulations and tests."""

    def __init__(self, start: datetime) -> None:
        self._now = to_naive_local(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"a clock cannot move backwards (asked to advance by {delta})")
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        moment = to_naive_local(moment)
        if moment < self._now:
            raise ValueError(f"a clock cannot move backwards (from {self._now} to {moment})")
        self._now = moment
        return self._now


class _CallableClock:
    def __init__(self, fn: Callable[[], datetime]) -> None:
        self._fn = fn

    def now(self) -> datetime:
        return to_naive_local(self._fn())


def as_clock(clock: Clock | Callable[[], datetime] | None) -> Clock:
    """Accept a clock object, a zero-argument callable returning a datetime, or None (system)."""
    if clock is None:
        return SystemClock()
    if isinstance(clock, Clock):
        return clock
    if callable(clock):
        return _CallableClock(clock)
    raise ClockError(
        f"clock must have a now() method or be callable, got {type(clock).__name__} {clock!r}"
    )


class CheckedClock:
    """A clock whose answers are checked: a datetime, naive local time (aware times are
    converted). Anything else raises :class:`~render_farm_manager.core.errors.ClockError`
    before the manager changes anything. Other attributes are those of the wrapped clock."""

    def __init__(self, clock: Clock) -> None:
        self.wrapped = clock

    def now(self) -> datetime:
        try:
            moment = self.wrapped.now()
        except Exception as error:  # a broken clock must not half-change the farm
            raise ClockError(f"the clock failed: {error!r}") from error
        if not isinstance(moment, datetime):
            raise ClockError(
                f"the clock must return a datetime, it returned {type(moment).__name__} {moment!r}"
            )
        return moment if moment.tzinfo is None else to_naive_local(moment)

    def __getattr__(self, name: str) -> object:
        return getattr(self.wrapped, name)


def to_naive_local(moment: datetime) -> datetime:
    """Drop the timezone of an aware datetime after converting it to local time."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone().replace(tzinfo=None)


def hours_between(start: datetime, end: datetime) -> float:
    """Signed number of hours from ``start`` to ``end``."""
    return (end - start).total_seconds() / 3600.0
