"""What the README promises, each through the public API and a real scheduling cycle."""

from datetime import timedelta

import pytest
from builders import DAY, make_client, make_farm, make_job, make_node

from render_farm_manager.core.models import LogLevel, RenderJobStatus
from render_farm_manager.energy_optimization.energy_optimizer import EnergyOptimizer
from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)

S = RenderJobStatus
LEVELS = ["debug", "info", "warning", "error", "critical"]


# -- energy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "priority", "energy_intensive", "deferred"),
    [
        ("balanced", "low", True, True),
        ("balanced", "medium", True, False),  # balanced defers low-priority work only
        ("efficiency", "medium", True, True),
        ("efficiency", "low", False, False),  # efficiency defers energy-intensive work only
        ("night_savings", "low", False, True),  # night savings also defers low-priority work
        ("night_savings", "high", True, True),
        ("night_savings", "critical", True, False),
        ("performance", "low", True, False),
    ],
)
def test_which_work_each_energy_mode_defers_in_a_real_cycle(
    mode, priority, energy_intensive, deferred
):
    manager, _ = make_farm(nodes=1, start=DAY)  # 10:00, peak price until 20:00
    manager.set_energy_mode(mode)
    manager.submit_job(
        make_job(
            "j",
            now=DAY,
            priority=priority,
            energy_intensive=energy_intensive,
            hours=2,
            deadline_in=48,
        )
    )
    result = manager.run_scheduling_cycle()
    assert (manager.jobs["j"].status is S.QUEUED) is deferred
    assert result["energy_optimized_jobs"] == int(deferred)
    if deferred:
        assert manager.last_cycle_plan.deferred["j"] == DAY.replace(hour=20)


def test_deferral_waits_for_the_work_queued_ahead_within_the_headroom():
    # a 2-hour job due 12 hours after the cheap hours begin is deferred on an idle farm...
    manager, _ = make_farm(nodes=1, start=DAY)
    manager.set_energy_mode("efficiency")
    manager.submit_job(
        make_job("late", now=DAY, energy_intensive=True, hours=2, deadline_in=10 + 12)
    )
    manager.run_scheduling_cycle()
    assert "late" in manager.last_cycle_plan.deferred
    # ...but not behind 8 hours of queued work: (8 + 2) / headroom 0.5 = 20 h > 12 h - margin
    busy, _ = make_farm(nodes=1, start=DAY)
    busy.set_energy_mode("efficiency")
    busy.submit_job(make_job("running", now=DAY, hours=50, priority="high"))
    busy.run_scheduling_cycle()
    for i in range(4):
        busy.submit_job(make_job(f"ahead{i}", now=DAY, hours=2, priority="high", deadline_in=200))
    busy.submit_job(make_job("late", now=DAY, energy_intensive=True, hours=2, deadline_in=22))
    busy.run_scheduling_cycle()
    assert "late" not in busy.last_cycle_plan.deferred
    # with all of the time left usable (headroom 1.0) it is deferred again
    roomy, _ = make_farm(
        nodes=1, start=DAY, energy_optimizer=EnergyOptimizer(deferral_headroom=1.0)
    )
    roomy.set_energy_mode("efficiency")
    roomy.submit_job(make_job("late", now=DAY, energy_intensive=True, hours=2, deadline_in=22))
    roomy.run_scheduling_cycle()
    assert "late" in roomy.last_cycle_plan.deferred


def test_savings_are_not_claimed_in_performance_mode():
    optimizer = EnergyOptimizer(clock=lambda: DAY)
    nodes = [make_node("a", efficiency=90), make_node("b", efficiency=20)]
    jobs = [make_job("j", now=DAY, hours=4, deadline_in=48, energy_intensive=True)]
    assert optimizer.estimate_energy_savings(jobs, nodes)["savings"] > 0
    optimizer.set_energy_mode("performance")
    savings = optimizer.estimate_energy_savings(jobs, nodes)
    assert savings["savings"] == 0 and savings["savings_percentage"] == 0


def test_energy_cost_saved_by_deferral_is_fed_to_the_monitor():
    manager, clock = make_farm(nodes=1, start=DAY)
    manager.set_energy_mode("efficiency")
    manager.submit_job(make_job("j", now=DAY, energy_intensive=True, hours=2, deadline_in=48))
    manager.run_scheduling_cycle()
    clock.set(DAY.replace(hour=20))
    manager.run_scheduling_cycle()
    assert manager.jobs["j"].status is S.RUNNING
    assert manager.performance_monitor.energy_cost_saved > 0


# -- learning --------------------------------------------------------------------------------


def test_history_weighs_more_as_renders_are_observed():
    matcher = NodeSpecializationManager(history_weight=0.3)
    fast = make_node("fast", cores=16, memory=64)
    tagged = make_node("tagged", cores=32, memory=128, tags=["animation"])
    job = make_job("j", hours=4)
    # before anything is learned, the specialisation tag wins
    assert matcher.calculate_performance_score(job, tagged) > matcher.calculate_performance_score(
        job, fast
    )
    gaps = []
    for _ in range(10):
        matcher.update_performance_history(job, fast, {"render_time_hours": 1.0})
        gaps.append(
            matcher.calculate_performance_score(job, fast)
            - matcher.calculate_performance_score(job, tagged)
        )
    assert gaps == sorted(gaps) and gaps[-1] > 0  # learned speed takes over, step by step


# -- deadlines -------------------------------------------------------------------------------


def test_a_job_waiting_on_dependencies_is_expected_after_its_parents():
    manager, clock = make_farm(nodes=2)
    manager.submit_job(make_job("a", hours=3))
    manager.submit_job(make_job("b", hours=2, dependencies=["a"]))
    manager.submit_job(make_job("c", hours=1, dependencies=["b"], deadline_in=5.5))
    manager.run_scheduling_cycle()
    now = clock.now()
    assert manager.get_job_status("b")["estimated_completion"] == now + timedelta(hours=5)
    status = manager.get_job_status("c")
    assert status["estimated_completion"] == now + timedelta(hours=6)
    assert status["will_meet_deadline"] is False


def test_a_deep_chain_is_forecast_in_full():
    manager, clock = make_farm(nodes=1)
    depth = 80
    for i in range(depth):
        deps = [f"j{i - 1}"] if i else []
        manager.submit_job(make_job(f"j{i}", hours=0.5, deadline_in=1000, dependencies=deps))
    status = manager.get_job_status(f"j{depth - 1}")
    assert status["estimated_completion"] == clock.now() + timedelta(hours=0.5 * depth)
    assert status["will_meet_deadline"] is True


def test_cancelling_the_head_of_a_deep_chain_blocks_it_with_short_reasons():
    manager, _ = make_farm(nodes=1)
    depth = 300
    for i in range(depth):
        manager.submit_job(make_job(f"j{i}", dependencies=[f"j{i - 1}"] if i else []))
    manager.cancel_job("j0")
    last = manager.get_job_status(f"j{depth - 1}")["blocked_reason"]
    assert last == f"dependency 'j{depth - 2}' is blocked: dependency 'j0' cancelled"
    assert all(len(j.blocked_reason or "") < 100 for j in manager.jobs.values())


def test_will_meet_deadline_follows_the_clock_without_any_change():
    manager, clock = make_farm(nodes=1)
    manager.submit_job(make_job("busy", hours=10, deadline_in=100))
    manager.run_scheduling_cycle()
    manager.submit_job(make_job("next", hours=2, deadline_in=13.5))
    assert manager.get_job_status("next")["will_meet_deadline"] is True
    clock.advance(timedelta(hours=12))  # nothing reported: the farm is twelve hours behind
    status = manager.get_job_status("next")
    assert status["will_meet_deadline"] is False
    assert status["estimated_completion"] == clock.now() + timedelta(hours=2)


# -- audit and monitor -----------------------------------------------------------------------


def test_node_failures_are_logged_at_warning_or_above_and_failure_reasons_read_well():
    manager, _ = make_farm(nodes=1, max_job_errors=1)
    manager.submit_job(make_job("j"))
    manager.run_scheduling_cycle()
    manager.handle_node_failure("n0", "fan stopped")
    entries = manager.audit_logger.get_node_history("n0")
    failure_entries = [
        e
        for e in entries
        if e.event_type == "node_failure" or e.details.get("new_status") == "error"
    ]
    assert len(failure_entries) == 2
    assert all(
        LEVELS.index(LogLevel(e.log_level)) >= LEVELS.index("warning") for e in failure_entries
    )
    reason = manager.jobs["j"].failure_reason
    assert reason == "failed 1 time, reaching the limit of 1 error; last error: fan stopped"


def test_the_monitor_is_fed_per_client():
    manager, clock = make_farm(nodes=2, clients=("a",))
    manager.add_client(make_client("b", guaranteed=50))
    for i in range(3):
        manager.submit_job(make_job(f"a{i}", client="a"))
    manager.submit_job(make_job("b0", client="b"))
    manager.run_scheduling_cycle()
    monitor = manager.performance_monitor
    assert monitor.get_client_metrics("a")["job_count"] == 3
    assert monitor.get_client_metrics("b")["job_count"] == 1
    assert monitor.get_client_metrics("b")["used_percentage"] == 50
    assert monitor.get_client_metrics("b")["allocated_percentage"] >= 50
    clock.advance(timedelta(hours=2))
    manager.complete_job("b0")
    assert monitor.job_turnaround_hours["b0"] == 2
    assert monitor.get_average_operation_time("submit_job") > 0
    assert monitor.get_average_operation_time("complete_job") > 0
    assert len(monitor.scheduling_cycle_times) == 1


def test_deferral_keeps_the_safety_margin_before_the_deadline():
    # cheap hours start at 20:00; a 2-hour job deferred then, with headroom 1.0, would finish
    # at 22:00: due at 23:30 it has only 1.5 hours of margin, due at 00:30 it has 2.5
    for due_in, deferred in ((13.5, False), (14.5, True)):
        manager, _ = make_farm(
            nodes=1, start=DAY, energy_optimizer=EnergyOptimizer(deferral_headroom=1.0)
        )
        manager.set_energy_mode("efficiency")
        manager.submit_job(
            make_job("j", now=DAY, energy_intensive=True, hours=2, deadline_in=due_in)
        )
        manager.run_scheduling_cycle()
        assert ("j" in manager.last_cycle_plan.deferred) is deferred, due_in
