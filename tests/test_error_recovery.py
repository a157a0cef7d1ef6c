"""Recovery: checkpointed progress survives failures, error thresholds fail jobs, corrupt scenes
fail at once."""

import pytest
from builders import make_farm, make_job

from render_farm_manager.core.errors import (
    IllegalTransitionError,
    NodeMismatchError,
    UnknownJobError,
)
from render_farm_manager.core.models import RenderJobStatus


def _run(manager, job_id):
    manager.run_scheduling_cycle()
    return manager.jobs[job_id].assigned_node_id


def test_checkpointing_job_keeps_progress_after_a_failure():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("j1", supports_checkpoint=True))
    node = _run(manager, "j1")
    manager.update_job_progress("j1", 60)
    manager.handle_node_failure(node, "kernel panic")
    job = manager.jobs["j1"]
    assert job.progress == 60
    assert job.last_checkpoint_time is not None
    _run(manager, "j1")
    assert job.status is RenderJobStatus.RUNNING and job.progress == 60


def test_job_without_checkpoints_restarts_from_zero():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("j1", supports_checkpoint=False))
    node = _run(manager, "j1")
    manager.update_job_progress("j1", 60)
    manager.handle_node_failure(node, "kernel panic")
    assert manager.jobs["j1"].progress == 0


def test_job_fails_at_the_error_threshold_with_the_count_in_the_reason():
    manager, _ = make_farm(nodes=4)
    manager.submit_job(make_job("j1"))
    for attempt in range(1, 4):
        node = _run(manager, "j1")
        assert node is not None, f"attempt {attempt} found no node"
        manager.handle_node_failure(node, f"failure {attempt}")
    job = manager.jobs["j1"]
    assert job.status is RenderJobStatus.FAILED
    assert job.error_count == 3
    failed = manager.audit_logger.get_logs_by_event_type("job_failed")
    assert failed and "3" in failed[-1].description and failed[-1].job_id == "j1"
    assert manager.get_job_status("j1")["will_meet_deadline"] is False


def test_threshold_is_configurable():
    manager, _ = make_farm(nodes=2, max_job_errors=1)
    manager.submit_job(make_job("j1"))
    manager.handle_node_failure(_run(manager, "j1"), "boom")
    assert manager.jobs["j1"].status is RenderJobStatus.FAILED


def test_render_error_requeues_and_keeps_the_node_online():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("j1"))
    node = _run(manager, "j1")
    assert manager.report_render_error("j1", "texture missing", node_id=node) == "requeued"
    assert manager.nodes[node].status == "online"
    assert manager.jobs["j1"].error_count == 1
    assert manager.jobs["j1"].status is RenderJobStatus.QUEUED


def test_corrupt_scene_fails_the_job_at_once_and_frees_the_node():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("j1"))
    manager.submit_job(make_job("j2"))
    node = _run(manager, "j1")
    first = manager.nodes[node].current_job_id
    assert manager.report_render_error(first, "bad header", corrupt_scene=True) == "failed"
    job = manager.jobs[first]
    assert job.status is RenderJobStatus.FAILED
    assert "corrupt scene" in job.failure_reason
    assert manager.nodes[node].current_job_id is None
    manager.run_scheduling_cycle()
    assert manager.nodes[node].current_job_id not in (None, first)


def test_render_error_reports_are_checked():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("j1"))
    with pytest.raises(UnknownJobError, match="nope"):
        manager.report_render_error("nope", "x")
    with pytest.raises(IllegalTransitionError):
        manager.report_render_error("j1", "x")  # not running yet
    node = _run(manager, "j1")
    other = "n1" if node == "n0" else "n0"
    with pytest.raises(NodeMismatchError, match=other):
        manager.report_render_error("j1", "x", node_id=other)
    assert manager.jobs["j1"].error_count == 0
    assert manager.jobs["j1"].status is RenderJobStatus.RUNNING


def test_failed_job_can_be_retried_by_an_operator():
    manager, _ = make_farm(nodes=1, max_job_errors=1)
    manager.submit_job(make_job("j1"))
    manager.handle_node_failure(_run(manager, "j1"), "boom")
    manager.set_node_online("n0")
    assert manager.retry_job("j1") is True
    assert manager.jobs["j1"].error_count == 0
    assert _run(manager, "j1") == "n0"
    assert manager.retry_job("j1") is False
