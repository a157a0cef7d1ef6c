"""Dependencies: children wait for parents, inherit nothing wrong, cycles are refused, and
dependents of failed work are reported blocked."""

from builders import make_farm, make_job

from render_farm_manager.core.models import JobPriority, RenderJobStatus


def test_child_runs_only_after_its_parent_completes():
    manager, _ = make_farm(nodes=3)
    manager.submit_job(make_job("parent"))
    manager.submit_job(make_job("child", dependencies=["parent"]))
    manager.run_scheduling_cycle()
    assert manager.jobs["parent"].status is RenderJobStatus.RUNNING
    assert manager.jobs["child"].status is RenderJobStatus.PENDING
    manager.complete_job("parent")
    manager.run_scheduling_cycle()
    assert manager.jobs["child"].status is RenderJobStatus.RUNNING


def test_chain_runs_in_order():
    manager, _ = make_farm(nodes=3)
    for i in range(4):
        manager.submit_job(make_job(f"s{i}", dependencies=[f"s{i - 1}"] if i else []))
    order = []
    for _ in range(4):
        manager.run_scheduling_cycle()
        running = [j.id for j in manager.jobs.values() if j.status == "running"]
        assert len(running) == 1
        order.append(running[0])
        manager.complete_job(running[0])
    assert order == ["s0", "s1", "s2", "s3"]


def test_parent_inherits_the_priority_of_a_waiting_dependent():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("busy", hours=1))
    manager.run_scheduling_cycle()
    manager.submit_job(make_job("other", priority="high", deadline_in=30))
    manager.submit_job(make_job("parent", priority="low", deadline_in=30))
    manager.submit_job(
        make_job("child", priority="critical", deadline_in=40, dependencies=["parent"])
    )
    assert manager.effective_priority("parent") is JobPriority.CRITICAL
    assert manager.jobs["parent"].priority is JobPriority.LOW  # stored priority untouched
    manager.complete_job("busy")
    manager.run_scheduling_cycle()
    assert manager.jobs["parent"].status is RenderJobStatus.RUNNING
    assert manager.jobs["other"].status is RenderJobStatus.QUEUED


def test_inheritance_goes_away_when_the_dependent_is_cancelled():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("parent", priority="low"))
    manager.submit_job(make_job("child", priority="critical", dependencies=["parent"]))
    assert manager.effective_priority("parent") is JobPriority.CRITICAL
    manager.cancel_job("child")
    assert manager.effective_priority("parent") is JobPriority.LOW


def test_parent_must_finish_by_the_latest_start_of_its_dependent():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("busy", hours=1))
    manager.run_scheduling_cycle()
    manager.submit_job(make_job("loose", deadline_in=20, hours=2))
    manager.submit_job(make_job("parent", deadline_in=200, hours=2))
    manager.submit_job(make_job("child", deadline_in=10, hours=4, dependencies=["parent"]))
    manager.complete_job("busy")
    manager.run_scheduling_cycle()
    assert manager.jobs["parent"].status is RenderJobStatus.RUNNING


def test_self_dependency_is_refused_at_submission():
    manager, _ = make_farm()
    manager.submit_job(make_job("loop", dependencies=["loop"]))
    job = manager.jobs["loop"]
    assert job.status is RenderJobStatus.FAILED
    assert "circular dependency" in job.failure_reason
    assert manager.audit_logger.get_job_history("loop")[-1].event_type == "job_failed"


def test_the_job_closing_a_cycle_is_failed_and_the_others_stay():
    manager, _ = make_farm()
    manager.submit_job(make_job("a", dependencies=["c"]))  # c not submitted yet
    manager.submit_job(make_job("b", dependencies=["a"]))
    manager.submit_job(make_job("c", dependencies=["b"]))
    assert manager.jobs["c"].status is RenderJobStatus.FAILED
    assert "c -> b -> a -> c" in manager.jobs["c"].failure_reason
    assert manager.jobs["a"].status is RenderJobStatus.PENDING
    assert "c" in manager.get_job_status("a")["blocked_reason"]


def test_dependents_of_a_failed_job_are_reported_blocked_transitively():
    manager, _ = make_farm(nodes=1, max_job_errors=1)
    manager.submit_job(make_job("p"))
    manager.submit_job(make_job("c1", dependencies=["p"]))
    manager.submit_job(make_job("c2", dependencies=["c1"]))
    manager.run_scheduling_cycle()
    manager.handle_node_failure("n0", "boom")
    assert manager.jobs["p"].status is RenderJobStatus.FAILED
    assert manager.get_job_status("c1")["blocked_reason"] == "dependency 'p' failed"
    assert "blocked" in manager.get_job_status("c2")["blocked_reason"]
    assert manager.get_job_status("c2")["will_meet_deadline"] is False
    # a retried parent unblocks them
    manager.set_node_online("n0")
    manager.retry_job("p")
    assert manager.jobs["c1"].blocked_reason is None
    assert manager.jobs["c2"].blocked_reason is None


def test_dependents_of_a_cancelled_job_are_blocked():
    manager, _ = make_farm()
    manager.submit_job(make_job("p"))
    manager.submit_job(make_job("c", dependencies=["p"]))
    manager.cancel_job("p")
    assert manager.get_job_status("c")["blocked_reason"] == "dependency 'p' cancelled"
    manager.run_scheduling_cycle()
    assert manager.jobs["c"].status is RenderJobStatus.PENDING


def test_dependency_on_a_job_submitted_later_waits_for_it():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("child", dependencies=["parent"]))
    assert "not been submitted" in manager.jobs["child"].blocked_reason
    manager.submit_job(make_job("parent"))
    assert manager.jobs["child"].blocked_reason is None
    manager.run_scheduling_cycle()
    assert manager.jobs["child"].status is RenderJobStatus.PENDING
    manager.complete_job("parent")
    manager.run_scheduling_cycle()
    assert manager.jobs["child"].status is RenderJobStatus.RUNNING


def test_scheduler_alone_respects_dependencies_in_the_given_list():
    manager, _ = make_farm(nodes=2)
    parent, child = make_job("p"), make_job("c", dependencies=["p"])
    plan = manager.scheduler.schedule_jobs([parent, child], list(manager.nodes.values()))
    assert set(plan) == {"p"}
    parent.status = RenderJobStatus.COMPLETED
    assert set(manager.scheduler.schedule_jobs([parent, child], list(manager.nodes.values()))) == {
        "c"
    }
