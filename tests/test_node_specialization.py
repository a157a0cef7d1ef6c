"""Node matching: hard filters with reasons, soft scores, and learning per node and class."""

from datetime import timedelta

import pytest
from builders import make_farm, make_job, make_node

from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)


def test_hard_filters_explain_why_a_node_does_not_fit():
    matcher = NodeSpecializationManager()
    job = make_job("j", requires_gpu=True, memory_requirements_gb=64, cpu_requirements=16)
    nodes = [
        make_node("cpu"),
        make_node("small", gpus=1, memory=32),
        make_node("few-cores", gpus=1, cores=8),
        make_node("off", gpus=1, status="offline"),
        make_node("ok", gpus=1),
    ]
    busy = make_node("busy", gpus=1)
    busy.current_job_id = "other"
    reasons = matcher.explain_misfits(job, [*nodes, busy])
    assert "GPU" in reasons["cpu"] and "memory" in reasons["small"]
    assert "cores" in reasons["few-cores"] and "offline" in reasons["off"]
    assert "busy" in reasons["busy"] and "ok" not in reasons
    assert matcher.match_job_to_node(job, [*nodes, busy]) == "ok"
    assert matcher.match_job_to_node(job, nodes[:3]) is None
    assert matcher.calculate_performance_score(job, nodes[0]) == 0


def test_specialised_and_capable_nodes_score_higher():
    matcher = NodeSpecializationManager()
    sim = make_job("sim", job_type="simulation")
    plain, special = make_node("plain"), make_node("special", tags=["fluid-simulation"])
    assert matcher.calculate_performance_score(sim, special) > matcher.calculate_performance_score(
        sim, plain
    )
    gpu_job = make_job("g", requires_gpu=True)
    old = make_node("old", gpus=1, capability=6.1, gpu_memory=8)
    new = make_node("new", gpus=4, capability=9.0, gpu_memory=48)
    assert matcher.match_job_to_node(gpu_job, [old, new]) == "new"
    cpu_job = make_job("c")
    assert matcher.match_job_to_node(cpu_job, [make_node("gpu", gpus=4), plain]) == "plain"


def test_snug_fit_keeps_big_nodes_for_big_scenes():
    matcher = NodeSpecializationManager()
    job = make_job("j", memory_requirements_gb=16, cpu_requirements=8)
    assert (
        matcher.match_job_to_node(
            job, [make_node("huge", memory=1024, cores=128), make_node("snug", memory=32, cores=16)]
        )
        == "snug"
    )


def test_learning_updates_node_and_class_and_a_new_node_of_the_class_benefits():
    matcher = NodeSpecializationManager(learning_rate=0.5)
    node = make_node("fast", cores=64)
    job = make_job("j", hours=4)
    speed = matcher.update_performance_history(job, node, {"render_time_hours": 2.0})
    assert speed == pytest.approx(2.0)
    assert node.performance_history["animation"] == pytest.approx(2.0)
    matcher.update_performance_history(job, node, {"render_time_hours": 4.0})
    assert matcher.expected_speed(node, "animation") == pytest.approx(1.5)
    sibling = make_node("sibling", cores=64)
    assert matcher.expected_hours(job, sibling) == pytest.approx(4 / 1.5)
    other_class = make_node("other", cores=16)
    assert matcher.expected_hours(job, other_class) == pytest.approx(4)
    report = matcher.analyze_node_efficiency([node, other_class])
    assert report["fast"]["average_speed"] == pytest.approx(1.5)
    assert report["other"]["speed_by_job_type"] == {}


def test_learning_validates_metrics_and_can_be_switched_off():
    matcher = NodeSpecializationManager()
    node, job = make_node("n"), make_job("j")
    with pytest.raises(ValueError, match="render_time_hours"):
        matcher.update_performance_history(job, node, {})
    with pytest.raises(ValueError):
        matcher.update_performance_history(job, node, {"render_time_hours": 0})
    frozen = NodeSpecializationManager(learning_enabled=False)
    frozen.update_performance_history(job, node, {"render_time_hours": 0.5})
    assert frozen.expected_speed(node, "animation") == 1.0
    with pytest.raises(ValueError):
        NodeSpecializationManager(history_weight=2)


def test_seeded_performance_history_is_used_for_matching():
    matcher = NodeSpecializationManager(history_weight=0.5)
    slow, fast = make_node("slow"), make_node("fast")
    fast.performance_history["animation"] = 3.0
    assert matcher.match_job_to_node(make_job("j"), [slow, fast]) == "fast"


def test_scheduler_places_by_learned_speed():
    manager, clock = make_farm(nodes=0)
    manager.add_node(make_node("gen1", cores=32))
    manager.add_node(make_node("gen2", cores=64))
    for node_id, _hours in (("gen1", 8), ("gen2", 2)):
        manager.submit_job(make_job(f"cal-{node_id}", hours=4))
    manager.run_scheduling_cycle()
    for _job in list(manager.jobs.values()):
        clock.advance(timedelta(hours=0))
    # both calibrations finish; gen2 took 2h, gen1 8h
    by_node = {j.assigned_node_id: j.id for j in manager.jobs.values()}
    clock.advance(timedelta(hours=2))
    manager.complete_job(by_node["gen2"])
    clock.advance(timedelta(hours=6))
    manager.complete_job(by_node["gen1"])
    manager.submit_job(make_job("next", hours=4))
    manager.run_scheduling_cycle()
    assert manager.jobs["next"].assigned_node_id == "gen2"
    assert manager.node_specializer.expected_speed(manager.nodes["gen1"], "animation") < 1


def test_instant_completion_is_not_learned_as_a_speed():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("j", hours=10))
    manager.run_scheduling_cycle()
    manager.complete_job("j")  # reported at once: a test harness, not a 0-second render
    assert manager.nodes["n0"].performance_history == {}
    manager.submit_job(make_job("k", hours=10))
    manager.run_scheduling_cycle()
    manager.complete_job("k", render_time_hours=5)
    assert manager.nodes["n0"].performance_history["animation"] == pytest.approx(2)


def _learned_farm():
    """A slow and a fast node; the fast one busy with a job ending in 30 minutes."""
    manager, clock = make_farm(nodes=0)
    manager.add_node(make_node("slow", cores=16))
    manager.add_node(make_node("fast", cores=64))
    for node_id, hours in (("slow", 4.0), ("fast", 1.0)):  # learn: fast renders 4x quicker
        for _ in range(10):
            manager.node_specializer.update_performance_history(
                make_job("cal", hours=4), manager.nodes[node_id], {"render_time_hours": hours}
            )
    manager.set_node_online("slow", online=False)
    manager.submit_job(make_job("busy", hours=2))  # 0.5h on the fast node
    manager.run_scheduling_cycle()
    manager.set_node_online("slow")
    return manager, clock


def test_work_waits_for_faster_busy_hardware_when_it_finishes_sooner():
    manager, _ = _learned_farm()
    manager.submit_job(make_job("next", hours=4))  # slow: 4h now; fast: 0.5h wait + 1h
    manager.run_scheduling_cycle()
    assert manager.jobs["next"].status == "queued"
    assert manager.last_cycle_plan.waiting_for_faster == ["next"]
    manager.complete_job("busy")
    manager.run_scheduling_cycle()
    assert manager.jobs["next"].assigned_node_id == "fast"


def test_work_takes_slower_free_hardware_when_waiting_would_finish_later():
    manager, _ = _learned_farm()
    manager.submit_job(make_job("tiny", hours=0.2))  # slow: 0.2h now; fast: 0.5h wait + 0.05h
    manager.run_scheduling_cycle()
    assert manager.jobs["tiny"].assigned_node_id == "slow"


def test_earliest_finish_placement_can_be_switched_off():
    manager, _ = _learned_farm()
    manager.scheduler.place_by_earliest_finish = False
    manager.submit_job(make_job("next", hours=4))
    manager.run_scheduling_cycle()
    assert manager.jobs["next"].assigned_node_id == "slow"
