"""Node failures: jobs requeue and move on, errors are counted, bad nodes get blocklisted."""

from builders import make_farm, make_job, running_on

from render_farm_manager.core.models import NodeStatus, RenderJobStatus


def test_simultaneous_failures_requeue_every_affected_job_and_reschedule_it():
    manager, _clock = make_farm(nodes=8)
    for i in range(4):
        manager.submit_job(make_job(f"j{i}"))
    manager.run_scheduling_cycle()
    busy = running_on(manager)
    failed_nodes = list(busy)[:3]

    affected = [job for node in failed_nodes for job in manager.handle_node_failure(node, "PSU")]

    assert sorted(affected) == sorted(busy[n] for n in failed_nodes)
    for node_id in failed_nodes:
        node = manager.nodes[node_id]
        assert node.status is NodeStatus.ERROR and node.last_error == "PSU"
        assert node.current_job_id is None
    for job_id in affected:
        job = manager.jobs[job_id]
        assert job.status is RenderJobStatus.QUEUED
        assert job.assigned_node_id is None and job.error_count == 1
    assert manager.performance_metrics.node_failures_count == 3

    manager.run_scheduling_cycle()
    for job_id in affected:
        job = manager.jobs[job_id]
        assert job.status is RenderJobStatus.RUNNING
        assert job.assigned_node_id not in failed_nodes


def test_failure_of_an_idle_node_affects_no_job():
    manager, _ = make_farm(nodes=2)
    assert manager.handle_node_failure("n0", "disk") == []
    assert manager.nodes["n0"].status is NodeStatus.ERROR
    assert manager.audit_logger.get_node_history("n0")[-1].event_type == "node_failure"


def test_failed_node_gets_no_work_until_it_is_back_online():
    manager, _ = make_farm(nodes=1)
    manager.handle_node_failure("n0", "overheated")
    manager.submit_job(make_job("j1"))
    manager.run_scheduling_cycle()
    assert manager.jobs["j1"].status is RenderJobStatus.QUEUED
    manager.set_node_online("n0")
    manager.run_scheduling_cycle()
    assert manager.jobs["j1"].assigned_node_id == "n0"


def test_a_node_that_fails_the_same_job_twice_is_blocklisted_for_it():
    manager, _ = make_farm(nodes=2, max_job_errors=5)
    manager.submit_job(make_job("j1"))
    manager.run_scheduling_cycle()
    first = manager.jobs["j1"].assigned_node_id
    manager.handle_node_failure(first, "crash")
    manager.set_node_online(first)
    # make the failing node the only free one
    other = "n1" if first == "n0" else "n0"
    manager.set_node_online(other, online=False)
    manager.run_scheduling_cycle()
    assert manager.jobs["j1"].assigned_node_id == first
    manager.handle_node_failure(first, "crash again")
    manager.set_node_online(first)

    assert first in manager.jobs["j1"].excluded_node_ids
    manager.run_scheduling_cycle()
    assert manager.jobs["j1"].status is RenderJobStatus.QUEUED  # only the blocklisted node is free
    manager.set_node_online(other)
    manager.run_scheduling_cycle()
    assert manager.jobs["j1"].assigned_node_id == other
    events = [e.event_type for e in manager.audit_logger.get_job_history("j1")]
    assert "node_blocklisted_for_job" in events


def test_taking_a_node_offline_requeues_its_job_without_counting_an_error():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("j1", supports_checkpoint=True))
    manager.run_scheduling_cycle()
    manager.update_job_progress("j1", 40)
    manager.set_node_online("n0", online=False)
    job = manager.jobs["j1"]
    assert job.status is RenderJobStatus.QUEUED
    assert job.error_count == 0 and job.progress == 40
    assert manager.nodes["n0"].status is NodeStatus.OFFLINE
