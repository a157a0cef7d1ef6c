"""Job events from a real manager run: what a production tracker is told, and when."""

from __future__ import annotations

from datetime import timedelta

from builders import make_farm, make_job

from render_farm_manager.hooks import (
    DeadlineWatch,
    JobEvent,
    JobEventKind,
    JobEventTranslator,
    job_events,
)

K = JobEventKind


def listen(manager) -> list[JobEvent]:
    """Every job event of the manager's changes from now on, in order."""
    translator = JobEventTranslator(manager.jobs)
    events: list[JobEvent] = []
    manager.add_change_listener(lambda entries: events.extend(translator.translate(entries)))
    return events


def of(events: list[JobEvent], job_id: str) -> list[str]:
    return [e.kind.value for e in events if e.job_id == job_id]


def test_a_shot_is_submitted_started_once_and_completed_once():
    manager, clock = make_farm(nodes=2)
    events = listen(manager)
    manager.submit_job(make_job("sh010", hours=8, frames="1-12", chunk_size=2))
    for _ in range(10):  # two tasks at a time: the shot runs, waits, runs again ...
        manager.run_scheduling_cycle()
        clock.advance(timedelta(minutes=30))
        for task in manager.tasks_of("sh010"):
            if task.status == "running":
                manager.complete_job(task.id)
    assert manager.jobs["sh010"].status == "completed"
    assert of(events, "sh010") == ["submitted", "started", "completed"]
    assert all(e.job_id == "sh010" for e in events)  # no task is reported on its own
    submitted, started, completed = events
    assert submitted.job_name == "Job sh010"
    assert submitted.client_id == "c1"
    assert submitted.details["frames"] == "1-12"
    assert started.details["task_id"].startswith("sh010/")
    assert started.details["node_id"] in manager.nodes
    assert completed.details == {"on_time": True}
    assert completed.at == manager.jobs["sh010"].completed_at


def test_a_job_that_fails_is_reported_failed_with_the_reason():
    manager, _ = make_farm(nodes=1)
    events = listen(manager)
    manager.submit_job(make_job("broken"))
    manager.run_scheduling_cycle()
    manager.report_render_error("broken", "scene.pov: parse error", failure="scene")
    assert of(events, "broken") == ["submitted", "started", "failed"]
    assert "parse error" in events[-1].details["reason"]


def test_a_shot_whose_task_fails_is_reported_failed_once():
    manager, _ = make_farm(nodes=2, max_job_errors=1)
    events = listen(manager)
    manager.submit_job(make_job("sh020", frames="1-4", chunk_size=1))
    manager.run_scheduling_cycle()
    task = next(t for t in manager.tasks_of("sh020") if t.status == "running")
    manager.report_render_error(task.id, "out of licences? no: segfault", node_id=None)
    assert manager.jobs["sh020"].status == "failed"
    assert of(events, "sh020") == ["submitted", "started", "failed"]
    assert task.id in events[-1].details["reason"]


def test_a_retried_job_is_reported_started_again():
    manager, _ = make_farm(nodes=1)
    events = listen(manager)
    manager.submit_job(make_job("retry-me"))
    manager.run_scheduling_cycle()
    manager.report_render_error("retry-me", "bad scene", failure="scene")
    manager.retry_job("retry-me")
    manager.run_scheduling_cycle()
    manager.complete_job("retry-me")
    assert of(events, "retry-me") == ["submitted", "started", "failed", "started", "completed"]


def test_a_preview_written_by_a_worker_is_reported_with_its_path_and_frame():
    manager, _ = make_farm(nodes=1)
    events = listen(manager)
    manager.submit_job(make_job("sh030", frames="1-3", chunk_size=3, preview_first=False))
    manager.run_scheduling_cycle()
    task = next(t for t in manager.tasks_of("sh030") if t.status == "running")
    manager.record_preview(task.id, 2, "/renders/sh030/preview.0002.png")
    preview = events[-1]
    assert preview.kind == K.PREVIEW_READY
    assert preview.job_id == "sh030"
    assert preview.details == {"path": "/renders/sh030/preview.0002.png", "frame": 2}


def test_cancelling_a_shot_reports_nothing_more_and_translation_is_pure():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("sh040", frames="1-8", chunk_size=1))
    manager.run_scheduling_cycle()
    history = list(manager.audit_logger.entries)
    first, started = job_events(history, manager.jobs, frozenset())
    again, started_again = job_events(history, manager.jobs, frozenset())
    assert [e.kind for e in first] == [e.kind for e in again] == [K.SUBMITTED, K.STARTED]
    assert started == started_again == {"sh040"}
    already, _ = job_events(history, manager.jobs, {"sh040"})
    assert [e.kind for e in already] == [K.SUBMITTED]  # its start was reported before
    manager.cancel_job("sh040")
    after, left = job_events(manager.audit_logger.entries[len(history) :], manager.jobs, started)
    assert after == []
    assert left == frozenset()  # a cancelled job is forgotten


def test_a_job_that_will_miss_its_deadline_is_reported_at_risk_once_until_it_recovers():
    manager, _ = make_farm(nodes=1)
    watch = DeadlineWatch()
    manager.submit_job(make_job("long", hours=10, deadline_in=48))
    manager.submit_job(make_job("tight", hours=4, deadline_in=12, priority="low"))
    manager.run_scheduling_cycle()  # one node: "long" runs first (medium beats low)
    assert manager.jobs["long"].status == "running"
    risky = watch.check(manager)
    assert [(e.kind, e.job_id) for e in risky] == [(K.AT_RISK, "tight")]
    assert risky[0].details["deadline"] == manager.jobs["tight"].deadline.isoformat()
    assert risky[0].details["estimated_completion"] > risky[0].details["deadline"]
    assert watch.check(manager) == []  # still at risk: not reported again
    manager.pause_job("long")  # the node is free: "tight" can make it now
    manager.run_scheduling_cycle()
    assert manager.get_job_status("tight")["will_meet_deadline"]
    assert watch.check(manager) == []
    assert "tight" not in watch.at_risk  # recovered
    manager.set_node_online("n0", False)  # the only node goes: at risk again
    assert [e.job_id for e in watch.check(manager)] == ["tight"]
