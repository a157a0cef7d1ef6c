"""Time-of-use electricity tariffs with any number of daily price periods."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from render_farm_manager.core.validation import setting

_DAY_MINUTES = 24 * 60


def _minute_of_day(moment: time | datetime) -> int:
    return moment.hour * 60 + moment.minute


@dataclass(frozen=True)
class TariffPeriod:
    """``price_per_kwh`` applies from ``start`` (inclusive) to ``end`` (exclusive) each day;
    a period may wrap past midnight (``start`` later than ``end``)."""

    start: time
    end: time
    price_per_kwh: float

    def __post_init__(self) -> None:
        setting(self.price_per_kwh, "price_per_kwh")
        if self.start == self.end:
            raise ValueError("a tariff period must not be empty (start equals end)")

    def covers(self, minute: int) -> bool:
        start, end = _minute_of_day(self.start), _minute_of_day(self.end)
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end


class TimeOfUseTariff:
    """A daily price schedule. Minutes not covered by any period cost ``default_price``."""

    def __init__(self, periods: list[TariffPeriod], default_price: float | None = None) -> None:
        if not periods and default_price is None:
            raise ValueError("a tariff needs at least one period or a default price")
        if default_price is not None:
            setting(default_price, "default_price")
        self.periods = list(periods)
        fallback = (
            default_price
            if default_price is not None
            else min(p.price_per_kwh for p in self.periods)
        )
        self.default_price = fallback
        # Price of every minute of the day, resolved once (first matching period wins).
        self._minute_price = [self._resolve(m) for m in range(_DAY_MINUTES)]
        self.min_price = min(self._minute_price)
        self.max_price = max(self._minute_price)
        self._minutes_to_change = self._minutes_until(lambda m, here: self._minute_price[m] != here)
        self._minutes_to_cheapest = self._minutes_until(
            lambda m, here: self._minute_price[m] == self.min_price
        )

    def _minutes_until(self, found: Callable[[int, float], bool]) -> list[int]:
        """For every minute of the day, minutes until ``found`` first holds after it (a whole
        day when it never does). One backward sweep over two days: O(minutes in a day)."""
        prices = self._minute_price
        result = [_DAY_MINUTES] * _DAY_MINUTES
        # Walking back from the end of the second day, remember the nearest later minute at
        # which ``found`` held for each price seen; a minute's answer depends on its own price.
        nearest: dict[float, int] = {}
        distinct = set(prices)
        for absolute in range(2 * _DAY_MINUTES - 1, -1, -1):
            minute = absolute % _DAY_MINUTES
            here = prices[minute]
            if absolute < _DAY_MINUTES and here in nearest:
                result[minute] = min(_DAY_MINUTES, nearest[here] - absolute)
            for price in distinct:
                if found(minute, price):
                    nearest[price] = absolute
        return result

    @classmethod
    def peak_off_peak(
        cls, peak_start: time, peak_end: time, peak_price: float, off_peak_price: float
    ) -> TimeOfUseTariff:
        return cls(
            [
                TariffPeriod(peak_start, peak_end, peak_price),
                TariffPeriod(peak_end, peak_start, off_peak_price),
            ]
        )

    def _resolve(self, minute: int) -> float:
        for period in self.periods:
            if period.covers(minute):
                return period.price_per_kwh
        return self.default_price

    def price_at(self, moment: datetime) -> float:
        return self._minute_price[_minute_of_day(moment)]

    def next_change(self, moment: datetime) -> datetime:
        """The first minute after ``moment`` at which the price differs (at most a day ahead)."""
        base = moment.replace(second=0, microsecond=0)
        return base + timedelta(minutes=self._minutes_to_change[_minute_of_day(moment)])

    def next_cheapest_start(self, moment: datetime) -> datetime:
        """When the cheapest price of the day next begins (``moment`` itself if it is now)."""
        if self.price_at(moment) == self.min_price:
            return moment
        base = moment.replace(second=0, microsecond=0)
        return base + timedelta(minutes=self._minutes_to_cheapest[_minute_of_day(moment)])

    def cost(self, kw: float, start: datetime, end: datetime) -> float:
        """Cost of drawing ``kw`` kilowatts from ``start`` to ``end``, split at price changes."""
        total, cursor = 0.0, start
        while cursor < end:
            boundary = min(end, self.next_change(cursor))
            total += kw * (boundary - cursor).total_seconds() / 3600.0 * self.price_at(cursor)
            cursor = boundary
        return total

    def average_price(self, start: datetime, hours: float) -> float:
        if hours <= 0:
            return self.price_at(start)
        return self.cost(1.0, start, start + timedelta(hours=hours)) / hours
