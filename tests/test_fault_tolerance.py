"""Node failures: jobs requeue and move on, errors are counted, bad nodes get blocklisted."""

from builders import make_farm, make_job, make_node, running_on

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


def test_a_blocklist_never_strands_a_job_on_a_farm_of_one_fitting_node():
    manager, _ = make_farm(nodes=1)  # max_job_errors 3, blocklist after 2 failures
    manager.submit_job(make_job("j"))
    for attempt in range(2):
        manager.run_scheduling_cycle()
        assert manager.jobs["j"].assigned_node_id == "n0", attempt
        manager.handle_node_failure("n0", "crash")
        manager.set_node_online("n0")
    job = manager.jobs["j"]
    assert job.excluded_node_ids == []  # the least-failing fitting node stays allowed
    status = manager.get_job_status("j")
    assert "every node that can run it is blocklisted" in status["placement_warning"]
    assert "n0" in status["placement_warning"]
    assert manager.audit_logger.get_logs_by_event_type("blocklist_relaxed")[-1].job_id == "j"
    manager.run_scheduling_cycle()
    assert job.status is RenderJobStatus.RUNNING  # runs again rather than waiting forever
    manager.handle_node_failure("n0", "crash")  # ...and the error threshold still ends it
    assert job.status is RenderJobStatus.FAILED
    assert "3 times" in job.failure_reason and "limit of 3 errors" in job.failure_reason


def test_the_least_failing_of_the_blocklisted_nodes_is_the_one_kept():
    manager, _ = make_farm(nodes=2, max_job_errors=10)
    manager.submit_job(make_job("j"))

    def fail_on(node_id):
        manager.run_scheduling_cycle()
        assert manager.jobs["j"].assigned_node_id == node_id
        manager.handle_node_failure(node_id, "crash")
        manager.set_node_online(node_id)

    manager.set_node_online("n0", online=False)
    fail_on("n1")
    fail_on("n1")  # n1 blocklisted; n0 (offline) could still run it
    assert manager.jobs["j"].excluded_node_ids == ["n1"]
    manager.set_node_online("n0")
    fail_on("n0")
    fail_on("n0")  # both failed it twice: the tie goes to n0
    assert manager.jobs["j"].excluded_node_ids == ["n1"]
    fail_on("n0")  # n0 has now failed it three times, n1 twice
    assert manager.jobs["j"].excluded_node_ids == ["n0"]
    assert "n1 (2 failures)" in manager.jobs["j"].placement_warning
    manager.run_scheduling_cycle()
    assert manager.jobs["j"].assigned_node_id == "n1"


def test_a_new_fitting_node_ends_the_relaxation():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("j"))
    for _ in range(2):
        manager.run_scheduling_cycle()
        manager.handle_node_failure("n0", "crash")
        manager.set_node_online("n0")
    assert manager.jobs["j"].placement_warning is not None
    manager.add_node(make_node("fresh"))
    assert manager.jobs["j"].excluded_node_ids == ["n0"]
    assert manager.jobs["j"].placement_warning is None
    manager.run_scheduling_cycle()
    assert manager.jobs["j"].assigned_node_id == "fresh"


def test_a_job_no_node_can_run_says_so_at_submission_and_until_one_arrives():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("huge", memory_requirements_gb=1024, requires_gpu=True))
    status = manager.get_job_status("huge")
    assert "no node in the farm can run it" in status["placement_warning"]
    assert "1024 GB memory" in status["placement_warning"]
    assert "a GPU" in status["placement_warning"]
    assert status["will_meet_deadline"] is False
    warning = manager.audit_logger.get_logs_by_event_type("job_unplaceable")[-1]
    assert warning.job_id == "huge" and warning.log_level == "warning"
    manager.run_scheduling_cycle()
    assert manager.jobs["huge"].status is RenderJobStatus.QUEUED
    manager.add_node(make_node("big", memory=2048, gpus=4))
    assert manager.get_job_status("huge")["placement_warning"] is None
    manager.run_scheduling_cycle()
    assert manager.jobs["huge"].assigned_node_id == "big"
