"""The seed's critical scenarios, end to end."""

import random
from datetime import timedelta

from builders import make_client, make_farm, make_job, make_node

from render_farm_manager.core.models import JobPriority, RenderJobStatus


def test_node_failure_during_a_critical_render_recovers_on_another_node():
    manager, clock = make_farm(nodes=3)
    manager.submit_job(
        make_job("hero", priority="critical", hours=6, deadline_in=10, supports_checkpoint=True)
    )
    manager.run_scheduling_cycle()
    first = manager.jobs["hero"].assigned_node_id
    clock.advance(timedelta(hours=3))
    manager.update_job_progress("hero", 50)
    manager.handle_node_failure(first, "GPU fell off the bus")
    manager.run_scheduling_cycle()
    job = manager.jobs["hero"]
    assert job.status is RenderJobStatus.RUNNING and job.assigned_node_id != first
    assert job.progress == 50
    assert manager.get_job_status("hero")["will_meet_deadline"] is True


def test_emergency_job_gets_a_node_at_once_by_preemption():
    manager, _ = make_farm(nodes=2)
    for i in range(2):
        manager.submit_job(
            make_job(
                f"bulk{i}", priority="high", hours=20, deadline_in=100, supports_checkpoint=i == 1
            )
        )
    manager.run_scheduling_cycle()
    manager.submit_emergency_job(make_job("fix", hours=1, deadline_in=48))
    fix = manager.jobs["fix"]
    assert fix.status is RenderJobStatus.RUNNING
    assert fix.emergency and fix.priority is JobPriority.CRITICAL
    assert manager.jobs["bulk1"].status is RenderJobStatus.QUEUED  # the one that checkpoints
    preempted = manager.audit_logger.get_logs_by_event_type("job_preempted")
    assert preempted[-1].details["reason"] == "emergency"


def test_maximum_load_with_heterogeneous_jobs_keeps_every_fitting_node_busy():
    manager, clock = make_farm(nodes=0, clients=("a", "b", "c"))
    rng = random.Random(3)
    for i in range(10):
        manager.add_node(make_node(f"cpu{i}", cores=32, memory=128))
    for i in range(5):
        manager.add_node(make_node(f"gpu{i}", gpus=2, memory=256))
    for i in range(300):
        manager.submit_job(
            make_job(
                f"j{i}",
                client=rng.choice("abc"),
                hours=rng.uniform(0.5, 8),
                deadline_in=rng.uniform(4, 96),
                requires_gpu=rng.random() < 0.3,
                memory_requirements_gb=rng.choice([8, 32, 100, 200]),
                priority=rng.choice(list(JobPriority)),
            )
        )
    for _ in range(40):
        manager.run_scheduling_cycle()
        plan = manager.last_cycle_plan
        # work may wait for faster hardware about to free up, by choice; nothing else may wait
        waiting = [j for j in manager.waiting_jobs() if j.id not in plan.waiting_for_faster]
        for node in manager.nodes.values():
            if node.current_job_id is None:  # idle only when no waiting job fits it
                assert all(manager.node_specializer.explain_misfits(job, [node]) for job in waiting)
        busy = [n.current_job_id for n in manager.nodes.values() if n.current_job_id]
        assert len(busy) == len(set(busy))
        running = [j for j in manager.jobs.values() if j.status == "running"]
        assert all(manager.nodes[j.assigned_node_id].current_job_id == j.id for j in running)
        clock.advance(timedelta(minutes=30))
        for job in running[:4]:
            manager.complete_job(job.id)


def test_gradual_hardware_upgrade_moves_work_to_new_nodes_that_inherit_class_speed():
    manager, clock = make_farm(nodes=0)
    for i in range(3):
        manager.add_node(make_node(f"old{i}", cores=16, memory=64))
    for i in range(3):
        manager.submit_job(make_job(f"warm{i}", hours=4, memory_requirements_gb=8))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=4))
    for i in range(3):
        manager.complete_job(f"warm{i}")  # the old class renders at the estimate
    # a new generation arrives; the old nodes are drained, so the probe runs on the new one
    manager.add_node(make_node("new0", cores=64, memory=256))
    for i in range(3):
        manager.set_node_maintenance(f"old{i}")
    manager.submit_job(make_job("probe", hours=4, memory_requirements_gb=8, now=clock.now()))
    manager.run_scheduling_cycle()
    assert manager.jobs["probe"].assigned_node_id == "new0"
    clock.advance(timedelta(hours=1))
    manager.complete_job("probe")  # four times faster
    # more of the new class arrive and inherit its speed; the old generation is retired
    for i in range(1, 3):
        manager.add_node(make_node(f"new{i}", cores=64, memory=256))
    for i in range(3):
        manager.remove_node(f"old{i}")
    manager.submit_job(make_job("busy", hours=4, memory_requirements_gb=8, now=clock.now()))
    manager.run_scheduling_cycle()
    # a 4-hour job due in 2 hours is feasible only at the speed the new class has shown
    manager.submit_job(
        make_job("after", hours=4, deadline_in=2, memory_requirements_gb=8, now=clock.now())
    )
    assert manager.jobs["after"].deadline_feasible is True
    manager.run_scheduling_cycle()
    assert manager.jobs["after"].assigned_node_id in {"new1", "new2"}
    assert manager.get_job_status("after")["will_meet_deadline"] is True
    assert len(manager.nodes) == 3


def test_graceful_degradation_under_extreme_load():
    manager, _clock = make_farm(nodes=2, clients=("a",))
    manager.add_client(make_client("b", guaranteed=50))
    for i in range(2000):
        manager.submit_job(
            make_job(f"j{i}", client="ab"[i % 2], hours=1 + i % 5, deadline_in=0.5 + i % 50)
        )
    result = manager.run_scheduling_cycle()
    assert result["jobs_scheduled"] == 2
    farm = manager.get_farm_status()
    assert farm["jobs_by_status"]["queued"] == 1998
    assert manager.get_job_status("j1999")["will_meet_deadline"] is False
    infeasible = [j for j in manager.jobs.values() if j.deadline_feasible is False]
    assert infeasible  # some deadlines were impossible from the start, and said so
