"""The starvation guard: work that has waited ``starvation_hours`` since its submission is
served right after the work at risk, one unit a cycle, whatever its priority; a sustained flood
of higher-priority work with time to spare no longer holds it back until its own deadline."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from builders import make_farm, make_job

from render_farm_manager.core.errors import RenderFarmError
from render_farm_manager.core.models import RenderJobStatus
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.scheduling.ready_queue import ReadyQueue

S = RenderJobStatus


def hours_until_the_low_job_starts(starvation_hours: float | None, horizon: int = 48) -> float:
    """One node; a high-priority job of an hour arrives every hour (each with days to spare)
    while a low-priority job due in ten days waits. Returns when the low job started."""
    manager, clock = make_farm(
        nodes=1, scheduler=DeadlineScheduler(starvation_hours=starvation_hours)
    )
    start = clock.now()
    for n in range(3):
        manager.submit_job(make_job(f"high-{n}", hours=1, deadline_in=200, priority="high"))
    low = make_job("low", hours=1, deadline_in=240, priority="low")
    manager.submit_job(low)
    for hour in range(1, horizon + 1):
        manager.run_scheduling_cycle()
        if low.status == S.RUNNING:
            return (clock.now() - start).total_seconds() / 3600
        clock.advance(timedelta(hours=1))
        for job in list(manager.jobs.values()):
            if job.status == S.RUNNING:
                manager.complete_job(job.id)
        manager.submit_job(make_job(f"high-h{hour}", hours=1, deadline_in=200, priority="high"))
    return math.inf


def test_a_low_priority_job_under_a_flood_of_high_priority_work_starts_after_its_wait() -> None:
    assert hours_until_the_low_job_starts(None) == math.inf  # without the guard: days
    assert hours_until_the_low_job_starts(24.0) == 24.0  # right when its wait reaches 24 h
    assert hours_until_the_low_job_starts(6.0) == 6.0
    assert DeadlineScheduler().starvation_hours == 24.0  # on by default


def test_the_queue_serves_the_longest_waiting_after_work_at_risk_and_only_so_many() -> None:
    queue = ReadyQueue()
    now = 1_000_000.0
    queue.put("critical-old", "c", 3, now + 90_000, since=now - 90_000)
    queue.put("risky", "c", 3, now + 60, since=now - 10)  # at risk: latest start within margin
    queue.put("high", "c", 2, now + 50_000, since=now - 100)
    queue.put("low-old", "c", 0, now + 900_000, since=now - 200_000)
    queue.put("low-older", "c", 0, now + 900_000, since=now - 300_000)
    queue.put("low-new", "c", 0, now + 900_000, since=now - 100)
    plain = list(queue.in_order(now, 3600))
    assert plain == ["risky", "critical-old", "high", "low-old", "low-older", "low-new"]
    guarded = list(queue.in_order(now, 3600, now - 86_400))
    assert guarded == ["risky", "low-older", "critical-old", "high", "low-old", "low-new"]
    two = list(queue.in_order(now, 3600, now - 86_400, starving_limit=2))
    assert two[:3] == ["risky", "low-older", "low-old"] and len(two) == len(set(two)) == 6
    queue.discard("low-older")
    assert list(queue.in_order(now, 3600, now - 86_400))[:2] == ["risky", "low-old"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 0.0, "2"], ids=repr)
def test_a_bad_starvation_setting_is_refused_by_name(value: object) -> None:
    with pytest.raises((RenderFarmError, ValueError), match="starvation_hours"):
        DeadlineScheduler(starvation_hours=value)  # type: ignore[arg-type]
