"""Deadline-driven scheduling: ordering, deadline predictions, infeasible deadlines, preemption."""

from datetime import timedelta

from builders import T0, make_farm, make_job, make_node

from render_farm_manager.core.models import JobPriority, RenderJobStatus
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler


def _one_node_farm(**kwargs):
    manager, clock = make_farm(nodes=1, **kwargs)
    manager.submit_job(make_job("blocker", hours=1, deadline_in=100, can_be_preempted=False))
    manager.run_scheduling_cycle()
    return manager, clock


def _next_started(manager):
    manager.complete_job(next(j.id for j in manager.jobs.values() if j.status == "running"))
    manager.run_scheduling_cycle()
    return next(j.id for j in manager.jobs.values() if j.status == "running")


def test_higher_priority_goes_first():
    manager, _ = _one_node_farm()
    manager.submit_job(make_job("low", priority="low", deadline_in=50))
    manager.submit_job(make_job("high", priority="high", deadline_in=60))
    assert _next_started(manager) == "high"


def test_same_priority_least_slack_goes_first():
    manager, _ = _one_node_farm()
    manager.submit_job(make_job("relaxed", deadline_in=60, hours=2))
    manager.submit_job(make_job("tight", deadline_in=30, hours=20))
    assert _next_started(manager) == "tight"


def test_work_with_slack_to_spare_goes_earliest_deadline_first():
    manager, _ = _one_node_farm()
    # both due tomorrow morning with hours to spare: the long one has less slack, but the
    # short one is due first (least slack first would run the long one first)
    manager.submit_job(make_job("long-0900", deadline_in=35, hours=12))
    manager.submit_job(make_job("short-0800", deadline_in=34, hours=1))
    assert _next_started(manager) == "short-0800"
    # work due at the same time keeps its submission order
    manager, _ = _one_node_farm()
    manager.submit_job(make_job("first", deadline_in=35, hours=12))
    manager.submit_job(make_job("second", deadline_in=35, hours=1))
    assert _next_started(manager) == "first"


def test_job_at_risk_runs_at_the_critical_level():
    manager, _ = _one_node_farm()
    manager.submit_job(make_job("critical-relaxed", priority="critical", deadline_in=60))
    # slack 1.5h < 2h safety margin: low work that cannot wait goes before critical work that can
    manager.submit_job(make_job("low-at-risk", priority="low", deadline_in=3.5, hours=2))
    assert manager.effective_priority("low-at-risk") is JobPriority.CRITICAL
    assert manager.effective_priority("critical-relaxed") is JobPriority.CRITICAL
    assert _next_started(manager) == "low-at-risk"


def test_urgent_work_is_ordered_by_least_slack_whatever_its_priority():
    manager, _ = _one_node_farm()
    manager.submit_job(make_job("high-urgent", priority="high", deadline_in=3.5, hours=2))
    manager.submit_job(make_job("low-more-urgent", priority="low", deadline_in=3, hours=2))
    assert _next_started(manager) == "low-more-urgent"


def test_late_work_yields_to_savable_work_at_its_level_but_beats_relaxed_work():
    manager, _clock = _one_node_farm()
    manager.submit_job(make_job("hopeless", deadline_in=1, hours=5))
    manager.submit_job(make_job("relaxed", deadline_in=100, hours=1))
    manager.submit_job(make_job("savable", priority="low", deadline_in=3, hours=2))
    order = [_next_started(manager) for _ in range(3)]
    assert order == ["savable", "hopeless", "relaxed"]


def test_will_meet_deadline_accounts_for_queue_position():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("first", hours=10, deadline_in=12, priority="high"))
    manager.submit_job(make_job("second", hours=5, deadline_in=12))
    manager.run_scheduling_cycle()
    assert manager.get_job_status("first")["will_meet_deadline"] is True
    second = manager.get_job_status("second")
    # alone it would finish in 5h, but it waits 10h behind "first"
    assert second["will_meet_deadline"] is False
    assert second["estimated_completion"] == T0 + timedelta(hours=15)
    assert second["deadline_feasible"] is True


def test_will_meet_deadline_uses_learned_node_speed():
    manager, clock = make_farm(nodes=1)
    manager.submit_job(make_job("calibrate", hours=4, deadline_in=100))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=8))  # this node renders animation at half the estimated speed
    manager.complete_job("calibrate")
    manager.submit_job(make_job("next", hours=4, deadline_in=6))
    manager.run_scheduling_cycle()
    status = manager.get_job_status("next")
    assert status["estimated_completion"] == clock.now() + timedelta(hours=8)
    assert status["will_meet_deadline"] is False


def test_infeasible_deadline_is_reported_at_submission():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("impossible", hours=10, deadline_in=5))
    assert manager.jobs["impossible"].deadline_feasible is False
    warning = manager.audit_logger.get_logs_by_event_type("deadline_infeasible")
    assert warning and warning[0].job_id == "impossible"
    manager.submit_job(make_job("no-hardware", requires_gpu=True))
    assert manager.jobs["no-hardware"].deadline_feasible is False
    assert (
        "no node in the farm can run it"
        in manager.audit_logger.get_logs_by_event_type("deadline_infeasible")[-1].description
    )
    manager.submit_job(make_job("fine", hours=1, deadline_in=5))
    assert manager.get_job_status("fine")["deadline_feasible"] is True


def test_no_preemption_when_waiting_still_meets_the_deadline():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("short", priority="low", hours=0.5))
    manager.run_scheduling_cycle()
    # slack 1.5h < margin, but the node frees in 0.5h: waiting is enough
    manager.submit_job(make_job("urgent", priority="high", hours=1, deadline_in=2.5))
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 0


def test_preemption_can_be_disabled():
    manager, _ = make_farm(nodes=1)
    manager.scheduler.enable_preemption = False
    manager.submit_job(make_job("low", priority="low", hours=20))
    manager.run_scheduling_cycle()
    manager.submit_job(make_job("urgent", priority="critical", hours=1, deadline_in=2))
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 0


def test_should_preempt_rules():
    scheduler = DeadlineScheduler(clock=lambda: T0)
    low = make_job("low", priority="low", hours=10)
    urgent = make_job("urgent", priority="high", hours=1, deadline_in=2)
    relaxed = make_job("relaxed", priority="critical", hours=1, deadline_in=50)
    assert scheduler.should_preempt(low, urgent)
    assert not scheduler.should_preempt(low, relaxed)  # has time to wait
    assert not scheduler.should_preempt(urgent, low)
    locked = make_job("locked", priority="low", can_be_preempted=False)
    assert not scheduler.should_preempt(locked, urgent)
    emergency = make_job("e", emergency=True)
    assert scheduler.should_preempt(low, emergency)
    assert not scheduler.should_preempt(emergency, urgent)
    assert not DeadlineScheduler(enable_preemption=False).should_preempt(low, emergency)


def test_update_priorities_raises_as_slack_shrinks_and_leaves_finished_jobs():
    scheduler = DeadlineScheduler(clock=lambda: T0, deadline_safety_margin_hours=2)
    relaxed = make_job("relaxed", priority="low", hours=1, deadline_in=48)
    closer = make_job("closer", priority="low", hours=1, deadline_in=2.5)
    closest = make_job("closest", priority="medium", hours=1, deadline_in=1.2)
    done = make_job("done", priority="low", hours=1, deadline_in=1, status="completed")
    given = [relaxed, closer, closest, done]
    assert scheduler.update_priorities(given) == given  # every job given, as it is now
    assert relaxed.priority is JobPriority.LOW
    assert closer.priority is JobPriority.MEDIUM
    assert closest.priority is JobPriority.CRITICAL
    assert done.priority is JobPriority.LOW


def test_can_meet_deadline_considers_busy_nodes_and_running_work():
    scheduler = DeadlineScheduler(clock=lambda: T0)
    node = make_node("n")
    job = make_job("j", hours=2, deadline_in=3)
    assert scheduler.can_meet_deadline(job, [node])
    running = make_job("r", hours=4)
    node.current_job_id = "r"
    assert not scheduler.can_meet_deadline(job, [node], {"r": running})
    assert not scheduler.can_meet_deadline(make_job("gpu", requires_gpu=True), [node])


def test_schedule_jobs_returns_new_assignments_without_changing_anything():
    scheduler = DeadlineScheduler(clock=lambda: T0)
    nodes = [make_node("a"), make_node("b")]
    jobs = [make_job("j1"), make_job("j2"), make_job("j3", requires_gpu=True)]
    plan = scheduler.schedule_jobs(jobs, nodes)
    assert set(plan) == {"j1", "j2"} and set(plan.values()) == {"a", "b"}
    assert all(j.status is RenderJobStatus.PENDING for j in jobs)
    assert all(n.current_job_id is None for n in nodes)


def test_competing_high_priority_deadlines_are_ordered_by_slack_and_reported():
    manager, _ = make_farm(nodes=2, clients=("a", "b"))
    manager.submit_job(make_job("a1", client="a", priority="critical", hours=6, deadline_in=7))
    manager.submit_job(make_job("b1", client="b", priority="critical", hours=6, deadline_in=8))
    manager.submit_job(make_job("a2", client="a", priority="critical", hours=6, deadline_in=9))
    manager.run_scheduling_cycle()
    running = {j.id for j in manager.jobs.values() if j.status == "running"}
    assert running == {"a1", "b1"}
    assert manager.get_job_status("a2")["will_meet_deadline"] is False
    assert manager.get_job_status("a1")["will_meet_deadline"] is True
