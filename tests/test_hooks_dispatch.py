"""The hook dispatcher: attached to a real manager, it reports job events in the background and
never holds up the farm, whatever its hooks do."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from builders import make_farm, make_job

from render_farm_manager.core.errors import InvalidInputError, RenderFarmError
from render_farm_manager.hooks import (
    DeliveryError,
    EventHook,
    HookDispatcher,
    JobEvent,
    JobEventKind,
    RetryPolicy,
)

FAST = RetryPolicy(attempts=3, first_delay=0.01)


class Recorder(EventHook):
    """Keeps what it is given; ``gate`` (when set) holds each delivery until it opens."""

    def __init__(self, *, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.events: list[JobEvent] = []
        self.delay = delay
        self.gate = gate
        self.arrived = threading.Event()

    def deliver(self, event: JobEvent) -> None:
        self.arrived.set()
        if self.gate is not None:
            self.gate.wait(5)
        time.sleep(self.delay)
        self.events.append(event)


class Flaky(EventHook):
    """Fails ``failures`` times, then accepts; remembers when each try came."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.tries: list[float] = []

    def deliver(self, event: JobEvent) -> None:
        self.tries.append(time.monotonic())
        if len(self.tries) <= self.failures:
            raise self.error


def numbered(count: int) -> list[JobEvent]:
    at = datetime(2026, 11, 23, 22, 0)
    return [JobEvent(kind=JobEventKind.SUBMITTED, job_id=f"j{i}", at=at) for i in range(count)]


def test_events_of_a_real_run_reach_the_hook():
    manager, clock = make_farm(nodes=2)
    hook = Recorder()
    dispatcher = HookDispatcher([hook], deadline_check_seconds=None)
    dispatcher.attach(manager)
    manager.submit_job(make_job("sh010", frames="1-4", chunk_size=1, preview_first=False))
    for _ in range(3):
        manager.run_scheduling_cycle()
        clock.advance(timedelta(minutes=10))
        for task in manager.tasks_of("sh010"):
            if task.status == "running":
                manager.report_frames_done(task.id, task.frames_left)
    assert dispatcher.close(timeout=5)
    assert [e.kind.value for e in hook.events] == ["submitted", "started", "completed"]
    assert dispatcher.stats()["Recorder"].delivered == 3


def test_a_slow_hook_does_not_slow_the_manager():
    manager, _ = make_farm(nodes=4)
    hook = Recorder(delay=0.5)  # half a second per event
    dispatcher = HookDispatcher([hook], deadline_check_seconds=None)
    dispatcher.attach(manager)
    started = time.perf_counter()
    for index in range(40):
        manager.submit_job(make_job(f"j{index}"))
    manager.run_scheduling_cycle()
    took = time.perf_counter() - started
    assert took < 1.0, f"40 submissions and a cycle took {took:.2f}s behind a slow hook"
    assert len(hook.events) <= 2  # the hook is still on its first events
    assert not dispatcher.close(timeout=0.1)  # not drained in time ...
    stats = dispatcher.stats()["Recorder"]
    assert stats.abandoned >= 40  # ... and what was left is counted, not lost silently
    assert stats.delivered + stats.abandoned == 44  # 40 submitted, 4 started


def test_a_full_queue_drops_the_oldest_events_and_counts_them():
    gate = threading.Event()
    hook = Recorder(gate=gate)
    dispatcher = HookDispatcher([hook], capacity=3, deadline_check_seconds=None)
    events = numbered(10)
    dispatcher.publish(events[:1])
    assert hook.arrived.wait(5)  # the first event is being delivered (held at the gate)
    dispatcher.publish(events[1:])
    assert dispatcher.stats()["Recorder"].dropped == 6
    gate.set()
    assert dispatcher.close(timeout=5)
    assert [e.job_id for e in hook.events] == ["j0", "j7", "j8", "j9"]


def test_a_failed_delivery_is_retried_with_growing_waits():
    hook = Flaky(failures=2, error=ConnectionError("reset"))
    retry = RetryPolicy(attempts=4, first_delay=0.05, factor=2.0)
    dispatcher = HookDispatcher([hook], retry=retry, deadline_check_seconds=None)
    dispatcher.publish(numbered(1))
    assert dispatcher.close(timeout=5)
    first, second, third = hook.tries
    assert second - first >= 0.05
    assert third - second >= 0.1
    stats = dispatcher.stats()["Flaky"]
    assert (stats.delivered, stats.retries, stats.failed) == (1, 2, 0)


def test_a_refused_delivery_is_not_retried():
    hook = Flaky(failures=5, error=DeliveryError("flaky", "no such task", retryable=False))
    dispatcher = HookDispatcher([hook], retry=FAST, deadline_check_seconds=None)
    dispatcher.publish(numbered(1))
    assert dispatcher.close(timeout=5)
    assert len(hook.tries) == 1
    assert dispatcher.stats()["Flaky"].failed == 1


def test_a_failing_hook_never_reaches_the_manager_nor_the_other_hooks():
    manager, _ = make_farm(nodes=1)
    broken = Flaky(failures=1000, error=RuntimeError("tracker down"))
    recorder = Recorder()
    dispatcher = HookDispatcher([broken, recorder], retry=FAST, deadline_check_seconds=None)
    dispatcher.attach(manager)
    manager.submit_job(make_job("a"))
    manager.run_scheduling_cycle()
    manager.complete_job("a")
    assert dispatcher.close(timeout=5)
    assert manager.jobs["a"].status == "completed"
    assert [e.kind.value for e in recorder.events] == ["submitted", "started", "completed"]
    stats = dispatcher.stats()
    assert (stats["Flaky"].failed, stats["Flaky"].delivered) == (3, 0)
    assert len(broken.tries) == 3 * FAST.attempts


def test_jobs_at_risk_are_reported_by_the_periodic_deadline_check():
    manager, _ = make_farm(nodes=1)
    hook = Recorder()
    dispatcher = HookDispatcher([hook], deadline_check_seconds=0.02)
    dispatcher.attach(manager)
    manager.submit_job(make_job("big", hours=10))
    manager.submit_job(make_job("late", hours=4, deadline_in=12, priority="low"))
    manager.run_scheduling_cycle()
    deadline = time.monotonic() + 5
    while not any(e.kind == JobEventKind.AT_RISK for e in hook.events):
        assert time.monotonic() < deadline, "no at_risk event within 5 s"
        time.sleep(0.01)
    time.sleep(0.1)  # several more checks: still one report
    assert dispatcher.close(timeout=5)
    at_risk = [e.job_id for e in hook.events if e.kind == JobEventKind.AT_RISK]
    assert at_risk == ["late"]


def test_detached_the_manager_is_no_longer_reported():
    manager, _ = make_farm(nodes=1)
    hook = Recorder()
    dispatcher = HookDispatcher([hook], deadline_check_seconds=None)
    dispatcher.attach(manager)
    manager.submit_job(make_job("a"))
    dispatcher.detach()
    manager.submit_job(make_job("b"))
    assert dispatcher.close(timeout=5)
    assert [e.job_id for e in hook.events] == ["a"]


def test_bad_settings_and_misuse_are_refused():
    with pytest.raises(InvalidInputError, match="EventHook"):
        HookDispatcher([object()])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="capacity"):
        HookDispatcher([], capacity=0)
    with pytest.raises(InvalidInputError, match="attempts"):
        RetryPolicy(attempts=0)
    manager, _ = make_farm(nodes=1)
    dispatcher = HookDispatcher([], deadline_check_seconds=None)
    dispatcher.attach(manager)
    with pytest.raises(RenderFarmError, match="already attached"):
        dispatcher.attach(manager)
    dispatcher.close()
    with pytest.raises(RenderFarmError, match="closed"):
        dispatcher.attach(manager)
