"""The facade's contract: documented outcomes for bad input, nothing half-changed."""

from datetime import timedelta

import pytest
from builders import T0, make_client, make_farm, make_job, make_node

from render_farm_manager.core.errors import (
    ClientInUseError,
    DuplicateIdError,
    IllegalTransitionError,
    RenderFarmError,
    UnknownClientError,
    UnknownNodeError,
)
from render_farm_manager.core.lifecycle import TRANSITIONS, can_transition, check_transition
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    NodeStatus,
    RenderClient,
    RenderJobStatus,
)
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.utils.logging import AuditLogger, PerformanceMonitor


def test_every_error_shares_one_root_and_names_what_is_wrong():
    manager, _ = make_farm()
    with pytest.raises(UnknownClientError, match="'ghost'") as error:
        manager.submit_job(make_job("j", client="ghost"))
    assert isinstance(error.value, RenderFarmError)
    assert "j" not in manager.jobs
    with pytest.raises(DuplicateIdError, match="'c1'"):
        manager.add_client(make_client("c1"))
    with pytest.raises(DuplicateIdError, match="'n0'"):
        manager.add_node(make_node("n0"))
    manager.submit_job(make_job("j"))
    with pytest.raises(DuplicateIdError, match="job"):
        manager.submit_job(make_job("j", hours=99))
    assert manager.jobs["j"].estimated_duration_hours == 2
    with pytest.raises(UnknownNodeError, match="'nope'"):
        manager.handle_node_failure("nope", "x")
    with pytest.raises(UnknownNodeError):
        manager.set_node_online("nope")


def test_unknown_ids_give_the_documented_false_or_none():
    manager, _ = make_farm()
    assert manager.get_job_status("x") is None
    assert manager.get_client_status("x") is None
    assert manager.cancel_job("x") is False
    assert manager.complete_job("x") is False
    assert manager.update_job_priority("x", "high") is False
    assert manager.update_job_progress("x", 10) is False
    assert manager.update_client_tier("x", "premium") is False
    assert manager.remove_client("x") is False
    assert manager.remove_node("x") is False
    assert manager.effective_priority("x") is None
    assert manager.pause_job("x") is False and manager.resume_job("x") is False


def test_invalid_values_raise_and_change_nothing():
    manager, _ = make_farm()
    manager.submit_job(make_job("j"))
    with pytest.raises(ValueError):
        manager.update_job_priority("j", "urgent")
    assert manager.jobs["j"].priority == "medium"
    with pytest.raises(ValueError):
        manager.update_client_tier("c1", "gold")
    assert manager.clients["c1"].sla_tier == "standard"


def test_finished_jobs_refuse_further_changes():
    manager, _ = make_farm()
    manager.submit_job(make_job("j"))
    manager.run_scheduling_cycle()
    assert manager.complete_job("j") is True
    assert manager.complete_job("j") is False
    assert manager.cancel_job("j") is False
    assert manager.update_job_progress("j", 50) is False
    assert manager.update_job_priority("j", "high") is False
    assert manager.jobs["j"].progress == 100
    assert manager.performance_metrics.total_jobs_completed == 1


def test_submitting_a_finished_job_is_an_illegal_transition():
    manager, _ = make_farm()
    with pytest.raises(IllegalTransitionError, match="completed"):
        manager.submit_job(make_job("j", status="completed"))
    assert "j" not in manager.jobs


def test_transition_table():
    assert can_transition("running", "completed")
    assert not can_transition(RenderJobStatus.COMPLETED, RenderJobStatus.RUNNING)
    assert TRANSITIONS[RenderJobStatus.CANCELLED] == frozenset()
    with pytest.raises(IllegalTransitionError, match="'cancelled' to 'running'"):
        check_transition("j", "cancelled", "running")


def test_cancel_frees_the_node_and_keeps_the_assignment_for_the_record():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("j"))
    manager.run_scheduling_cycle()
    assert manager.cancel_job("j") is True
    assert manager.jobs["j"].status is RenderJobStatus.CANCELLED
    assert manager.jobs["j"].assigned_node_id == "n0"
    assert manager.nodes["n0"].current_job_id is None


def test_progress_is_clamped_and_100_completes():
    manager, clock = make_farm(nodes=1)
    manager.submit_job(make_job("j", deadline_in=5))
    manager.run_scheduling_cycle()
    assert manager.update_job_progress("j", -5) and manager.jobs["j"].progress == 0
    clock.advance(timedelta(hours=2))
    assert manager.update_job_progress("j", 150)
    job = manager.jobs["j"]
    assert job.status is RenderJobStatus.COMPLETED and job.progress == 100
    assert manager.nodes["n0"].current_job_id is None
    metrics = manager.performance_metrics
    assert metrics.jobs_completed_on_time == 1
    assert metrics.average_job_turnaround_hours == pytest.approx(2)


def test_pause_and_resume():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("j", supports_checkpoint=True))
    manager.run_scheduling_cycle()
    manager.update_job_progress("j", 30)
    assert manager.pause_job("j") is True
    assert manager.nodes["n0"].current_job_id is None
    manager.run_scheduling_cycle()
    assert manager.jobs["j"].status is RenderJobStatus.PAUSED
    assert manager.resume_job("j") is True
    manager.run_scheduling_cycle()
    assert manager.jobs["j"].status is RenderJobStatus.RUNNING
    assert manager.jobs["j"].progress == 30


def test_clients_are_registered_updated_and_removed():
    manager, _ = make_farm()
    manager.add_client(RenderClient(client_id="legacy", name="Legacy", service_tier="basic"))
    assert manager.update_client_tier("legacy", "premium") is True
    assert manager.get_client_status("legacy")["sla_tier"] == "premium"
    manager.submit_job(make_job("j", client="legacy"))
    with pytest.raises(ClientInUseError, match="1 unfinished"):
        manager.remove_client("legacy")
    manager.cancel_job("j")
    assert manager.remove_client("legacy") is True
    assert "legacy" not in manager.clients


def test_removing_a_busy_node_requeues_its_job():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("j"))
    manager.run_scheduling_cycle()
    assert manager.remove_node("n0") is True
    assert manager.jobs["j"].status is RenderJobStatus.QUEUED
    assert manager.jobs["j"].error_count == 0


def test_a_node_registered_busy_is_refused():
    manager, _ = make_farm(nodes=0)
    node = make_node("n")
    node.current_job_id = "ghost"
    with pytest.raises(RenderFarmError, match="must be free"):
        manager.add_node(node)
    assert manager.nodes == {}


def test_drain_finishes_the_current_job_then_goes_to_maintenance():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("a"))
    manager.submit_job(make_job("b"))
    manager.run_scheduling_cycle()
    running = manager.nodes["n0"].current_job_id
    manager.drain_node("n0")
    manager.run_scheduling_cycle()
    assert manager.jobs[running].status is RenderJobStatus.RUNNING
    manager.complete_job(running)
    assert manager.nodes["n0"].status is NodeStatus.MAINTENANCE
    manager.run_scheduling_cycle()
    waiting = "b" if running == "a" else "a"
    assert manager.jobs[waiting].status is RenderJobStatus.QUEUED
    manager.set_node_online("n0")
    manager.run_scheduling_cycle()
    assert manager.jobs[waiting].status is RenderJobStatus.RUNNING


def test_immediate_maintenance_requeues_at_once():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("a"))
    manager.run_scheduling_cycle()
    manager.set_node_maintenance("n0", drain=False)
    assert manager.nodes["n0"].status is NodeStatus.MAINTENANCE
    assert manager.jobs["a"].status is RenderJobStatus.QUEUED
    manager.set_node_maintenance("n0")  # idle: straight to maintenance
    assert manager.nodes["n0"].status is NodeStatus.MAINTENANCE


def test_status_reports_have_the_contract_keys():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("j"))
    result = manager.run_scheduling_cycle()
    assert set(result) == {
        "jobs_scheduled",
        "jobs_preempted",
        "resources_allocated",
        "energy_optimized_jobs",
        "progressive_outputs",
        "utilization_percentage",
    }
    assert result["utilization_percentage"] == 50
    job = manager.get_job_status("j")
    for key in (
        "id",
        "name",
        "client_id",
        "status",
        "priority",
        "progress",
        "deadline",
        "time_until_deadline_hours",
        "estimated_completion",
        "will_meet_deadline",
        "assigned_node",
        "error_count",
        "progressive_output_path",
        "submission_time",
        "last_checkpoint_time",
        "last_progressive_output_time",
    ):
        assert key in job
    client = manager.get_client_status("c1")
    for key in (
        "id",
        "name",
        "sla_tier",
        "guaranteed_resources",
        "max_resources",
        "current_resource_usage",
        "resource_allocation",
        "total_jobs",
        "jobs_by_status",
        "active_jobs",
    ):
        assert key in client
    assert client["active_jobs"] == [
        {"id": "j", "name": "Job j", "status": "running", "progress": 0.0}
    ]
    farm = manager.get_farm_status()
    assert set(farm["jobs_by_status"]) == {s.value for s in RenderJobStatus}
    assert farm["jobs_by_status"]["pending"] == 0
    resources = farm["compute_resources"]
    assert resources["total_cpu_cores"] == 64 and resources["idle_cpu_cores"] == 32
    assert resources["cpu_utilization_percentage"] == 50


def test_custom_components_share_the_managers_logger_clock_and_matcher():
    log = AuditLogger()
    monitor = PerformanceMonitor(log)
    scheduler = DeadlineScheduler(
        audit_logger=log,
        performance_monitor=monitor,
        deadline_safety_margin_hours=1.0,
        enable_preemption=False,
    )
    manager = RenderFarmManager(
        scheduler=scheduler, audit_logger=log, performance_monitor=monitor, clock=lambda: T0
    )
    assert manager.scheduler is scheduler
    assert scheduler.node_specializer is manager.node_specializer
    assert scheduler.clock.now() == T0
    manager.add_client(make_client("c1"))
    assert log.entries[-1].timestamp == T0


def test_the_manager_keeps_the_callers_objects():
    manager, _ = make_farm(nodes=1)
    job = make_job("j")
    manager.submit_job(job)
    manager.run_scheduling_cycle()
    assert job.status is RenderJobStatus.RUNNING and job.assigned_node_id == "n0"
    with pytest.raises(ValueError):
        RenderFarmManager(max_job_errors=0)
