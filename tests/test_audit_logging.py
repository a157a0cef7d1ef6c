"""Audit trail: every state change is recorded, queryable, optionally written as JSON lines,
safe under concurrency; the performance monitor keeps timings and metrics."""

import json
import threading
from datetime import timedelta
from unittest.mock import MagicMock

from builders import T0, make_client, make_farm, make_job, make_node

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import LogLevel
from render_farm_manager.utils.logging import AuditLogger, PerformanceMonitor


def test_every_state_change_of_a_job_is_in_its_history():
    manager, clock = make_farm(nodes=1)
    manager.submit_job(make_job("j"))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=1))
    manager.update_job_priority("j", "high")
    manager.complete_job("j")
    history = manager.audit_logger.get_job_history("j")
    kinds = [e.event_type for e in history]
    assert kinds[0] == "job_submitted"
    assert "job_scheduled" in kinds and "job_updated" in kinds and kinds[-1] == "job_completed"
    moves = [
        (e.details["old_status"], e.details["new_status"])
        for e in history
        if e.event_type == "job_status_changed"
    ]
    assert moves == [("pending", "running"), ("running", "completed")]


def test_batched_status_changes_still_appear_in_each_jobs_history():
    manager, _ = make_farm(nodes=0)
    for i in range(3):
        manager.submit_job(make_job(f"j{i}"))
    manager.run_scheduling_cycle()
    for i in range(3):
        entry = manager.audit_logger.get_job_history(f"j{i}")[-1]
        assert entry.details["new_status"] == "queued"
        assert f"j{i}" in entry.details["job_ids"]


def test_queries_by_node_client_type_and_time():
    manager, clock = make_farm(nodes=1)
    manager.submit_job(make_job("j"))
    clock.advance(timedelta(hours=1))
    manager.handle_node_failure("n0", "fan")
    log = manager.audit_logger
    assert [e.event_type for e in log.get_node_history("n0")][-1] == "node_failure"
    assert log.get_client_history("c1")[0].event_type == "client_added"
    assert len(log.get_logs_by_event_type("node_failure")) == 1
    late = log.get_logs_by_time_range(T0 + timedelta(minutes=30), T0 + timedelta(hours=2))
    assert {e.event_type for e in late} >= {"node_failure"}
    assert all(e.timestamp >= T0 + timedelta(minutes=30) for e in late)
    assert log.get_logs_by_level(LogLevel.ERROR)[0].event_type == "node_failure"


def test_log_levels_and_free_form_events():
    log = AuditLogger()
    entry = log.log_event("custom", "something", log_level="warning", job_id="j", extra=1)
    assert entry.log_level is LogLevel.WARNING and entry.details == {"extra": 1}
    assert log.log_event("x", "y").log_level is LogLevel.INFO
    assert log.log_error("bad").log_level is LogLevel.ERROR
    assert log.get_job_history("j") == [entry]


def test_json_lines_sink(tmp_path):
    sink = tmp_path / "audit" / "log.jsonl"
    manager = RenderFarmManager(audit_logger=AuditLogger(sink_path=sink), clock=lambda: T0)
    manager.add_client(make_client("c1"))
    manager.add_node(make_node("n0"))
    records = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [r["event_type"] for r in records] == ["client_added", "node_added"]
    assert records[1]["node_id"] == "n0" and records[0]["timestamp"].startswith("2026-11-23")


def test_bounded_log_keeps_the_newest_entries_and_their_indexes():
    log = AuditLogger(max_entries=10)
    for i in range(30):
        log.log_event("e", f"#{i}", job_id=f"j{i}")
    kept = [e.description for e in log.entries]
    assert 10 <= len(kept) <= 11 and kept[-1] == "#29"
    assert log.get_job_history("j0") == [] and len(log.get_job_history("j29")) == 1


def test_concurrent_callers_are_safe():
    manager, _ = make_farm(nodes=8)
    errors = []

    def submit(start):
        try:
            for i in range(start, start + 50):
                manager.submit_job(make_job(f"j{i}"))
                manager.run_scheduling_cycle()
        except Exception as error:  # pragma: no cover - only on failure
            errors.append(error)

    threads = [threading.Thread(target=submit, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(manager.jobs) == 200
    busy = [n.current_job_id for n in manager.nodes.values() if n.current_job_id]
    assert len(busy) == len(set(busy)) == 8
    assert len(manager.audit_logger.get_logs_by_event_type("job_submitted")) == 200


def test_performance_monitor_timings_and_metrics():
    monitor = PerformanceMonitor()
    with monitor.time_operation("plan"):
        pass
    monitor.record_operation_time("plan", 0.5)
    assert monitor.get_max_operation_time("plan") == 0.5
    assert monitor.get_min_operation_time("plan") < 0.5
    assert 0 < monitor.get_average_operation_time("plan") < 0.5
    assert monitor.get_average_operation_time("none") == 0
    monitor.update_client_job_count("c", 3)
    monitor.update_client_resource_metrics("c", 40, 20, 5, 0)
    assert monitor.get_client_metrics("c")["job_count"] == 3
    assert monitor.get_client_metrics("c")["borrowed_percentage"] == 5
    monitor.update_job_turnaround_time("j", 2)
    monitor.update_job_turnaround_time("k", 4)
    assert monitor.average_turnaround_hours == 3
    monitor.update_node_failure_count("n")
    monitor.update_energy_cost_saved(1.5)
    monitor.update_scheduling_cycle_time(0.01)
    assert monitor.node_failure_counts["n"] == 1 and monitor.energy_cost_saved == 1.5
    monitor.reset_metrics()
    assert monitor.get_client_metrics("c") == {"job_count": 0}


def test_components_work_with_spec_mocks_of_logger_and_monitor():
    log, monitor = MagicMock(spec=AuditLogger), MagicMock(spec=PerformanceMonitor)
    manager = RenderFarmManager(audit_logger=log, performance_monitor=monitor, clock=lambda: T0)
    manager.add_client(make_client("c1"))
    manager.add_node(make_node("n0"))
    manager.submit_job(make_job("j", supports_progressive_output=True))
    manager.run_scheduling_cycle()
    manager.set_energy_mode("efficiency")
    manager.handle_node_failure("n0", "x")
    log.log_job_submitted.assert_called_once()
    log.log_energy_mode_changed.assert_called_once_with(old_mode="balanced", new_mode="efficiency")
    monitor.update_scheduling_cycle_time.assert_called_once()


def test_entries_are_those_model_construct_makes():
    """The logger builds entries without pydantic's model_construct (its walk over the fields
    was most of an entry's cost): they must be the same models in every respect."""
    from render_farm_manager.core.models import AuditLogEntry
    from render_farm_manager.utils.logging import new_entry

    values = {
        "timestamp": T0,
        "event_type": "job_submitted",
        "job_id": "j",
        "node_id": None,
        "client_id": "c1",
        "description": "Job j submitted",
        "details": {"priority": "high", "emergency": False},
        "log_level": LogLevel.WARNING,
    }
    built = new_entry(**values)
    reference = AuditLogEntry.model_construct(**values)
    assert built == reference and built.model_dump() == reference.model_dump()
    assert built.model_dump_json() == reference.model_dump_json() and repr(built) == repr(reference)
    assert built.model_fields_set == reference.model_fields_set
    assert built.__pydantic_private__ == reference.__pydantic_private__
    assert built.__pydantic_extra__ == reference.__pydantic_extra__
    built.description = "changed"  # validated on assignment like any model, held by nobody
    assert built.description == "changed" and built.holder() is None
