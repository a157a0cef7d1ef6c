"""Locality: a node that holds a shot's scene (the last task started there) keeps that shot's
next task when that delays nothing pressing and no higher level, and work goes to a free node
that holds its scene; the simulator charges a scene load to every cold start and reports the
cold-start share."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import make_farm, make_job, make_node

from render_farm_manager.core.models import RenderJobStatus
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.simulation.engine import Simulation
from render_farm_manager.simulation.policies import resolve_policies
from render_farm_manager.simulation.scenarios import generate_workload
from render_farm_manager.simulation.workload import JobSpec

S = RenderJobStatus


def shot(shot_id: str, tasks: int = 3, **fields):
    """A shot of ``tasks`` one-hour tasks of one frame each."""
    fields.setdefault("deadline_in", 48.0)
    return make_job(
        shot_id,
        frames=f"1-{tasks}",
        chunk_size=1,
        hours=float(tasks),
        preview_first=False,
        **fields,
    )


def running_task(manager, node_id: str):
    job_id = manager.nodes[node_id].current_job_id
    return manager.jobs[job_id] if job_id else None


def two_shots_on_two_nodes(keep_scenes_warm: bool = True, **a_fields):
    """n0 runs a task of shot B, n1 a task of shot A; A is due first. Then n0's task ends."""
    manager, clock = make_farm(
        nodes=1, scheduler=DeadlineScheduler(keep_scenes_warm=keep_scenes_warm)
    )
    manager.submit_job(shot("B", deadline_in=60.0))
    manager.run_scheduling_cycle()
    assert running_task(manager, "n0").job_id == "B"
    manager.add_node(make_node("n1"))
    manager.submit_job(shot("A", **a_fields))
    manager.run_scheduling_cycle()
    assert running_task(manager, "n1").job_id == "A"
    clock.advance(timedelta(minutes=30))
    manager.complete_job(manager.nodes["n0"].current_job_id)
    manager.run_scheduling_cycle()
    return manager


def test_a_node_keeps_the_shot_whose_scene_it_holds() -> None:
    # A is due first, so without locality its next task takes the free node (a cold start);
    # with it, the node that holds B's scene renders B's next task and A waits for n1.
    assert running_task(two_shots_on_two_nodes(), "n0").job_id == "B"
    assert running_task(two_shots_on_two_nodes(keep_scenes_warm=False), "n0").job_id == "A"


def test_work_at_risk_and_work_of_a_higher_level_are_not_held_back_by_locality() -> None:
    # A at risk of missing its deadline (three hours of work, due in three and a half)
    at_risk = two_shots_on_two_nodes(deadline_in=3.5)
    assert running_task(at_risk, "n0").job_id == "A"
    higher = two_shots_on_two_nodes(priority="high")
    assert running_task(higher, "n0").job_id == "A"


def test_a_node_that_went_offline_holds_no_scene() -> None:
    manager, _ = make_farm(nodes=1)
    manager.submit_job(shot("B", deadline_in=60.0))
    manager.run_scheduling_cycle()
    manager.add_node(make_node("n1"))
    manager.submit_job(shot("A"))
    manager.run_scheduling_cycle()
    manager.complete_job(manager.nodes["n0"].current_job_id)
    manager.set_node_online("n0", False, "rebooted")
    manager.run_scheduling_cycle()
    manager.set_node_online("n0")
    manager.run_scheduling_cycle()
    assert running_task(manager, "n0").job_id == "A"  # cold again: queue order decides


def test_work_goes_to_the_free_node_that_holds_its_scene() -> None:
    # Two free nodes of one kind: n0 is the better rated one, n1 holds the shot's scene.
    # The shot is at risk, so it is placed in queue order, not by sticking.
    def second_task_node(keep_scenes_warm: bool) -> str:
        manager, _ = make_farm(
            nodes=0, scheduler=DeadlineScheduler(keep_scenes_warm=keep_scenes_warm)
        )
        manager.add_node(make_node("n1", efficiency=50.0))
        manager.submit_job(shot("S", tasks=2, deadline_in=2.5))
        manager.run_scheduling_cycle()
        manager.add_node(make_node("n0", efficiency=90.0))
        manager.complete_job(manager.nodes["n1"].current_job_id)
        manager.run_scheduling_cycle()
        placed = [n for n in ("n0", "n1") if running_task(manager, n) is not None]
        assert len(placed) == 1
        return placed[0]

    assert second_task_node(keep_scenes_warm=True) == "n1"
    assert second_task_node(keep_scenes_warm=False) == "n0"


def test_a_plain_job_wipes_the_scene_a_node_held() -> None:
    manager, _ = make_farm(nodes=1)
    manager.submit_job(shot("B", deadline_in=60.0))
    manager.run_scheduling_cycle()
    manager.submit_job(make_job("plain", hours=1.0, deadline_in=30.0, priority="high"))
    manager.complete_job(manager.nodes["n0"].current_job_id)
    manager.run_scheduling_cycle()
    assert manager.nodes["n0"].current_job_id == "plain"
    manager.add_node(make_node("n1"))
    manager.submit_job(shot("A"))
    manager.run_scheduling_cycle()  # n1 takes A (due first)
    manager.complete_job("plain")
    manager.run_scheduling_cycle()
    assert running_task(manager, "n0").job_id == "A"  # n0 holds no scene of B any more


# -- the simulator -------------------------------------------------------------------------------


def one_node_workload(load_minutes: float):
    """One node, one shot of four one-hour tasks rendered one after another."""
    base = generate_workload("normal", 5, 1.0, seed=3)
    node_class = base.node_classes[0].model_copy(
        update={"count": 1, "mtbf_hours": 1e9, "arrives_at_hours": 0.0, "retires_at_hours": None}
    )
    job = JobSpec(
        id="shot",
        client_id=base.clients[0].id,
        job_type="animation",
        submit_at_hours=0.0,
        estimated_duration_hours=4.0,
        deadline_after_hours=48.0,
        frames=4,
        chunk_size=1,
        scene_load_minutes=load_minutes,
        supports_progressive_output=False,
    )
    return base.model_copy(
        update={"node_classes": [node_class], "jobs": [job], "maintenance": [], "days": 1.0}
    )


def test_the_simulator_charges_a_scene_load_to_each_cold_start_only() -> None:
    policy = resolve_policies(["ours-no-previews"])[0]
    light = Simulation(one_node_workload(0.0), policy).run()
    heavy = Simulation(one_node_workload(30.0), policy).run()
    for result in (light, heavy):
        assert result.task_starts == 4
        assert result.cold_starts == 1  # only the first task loads the scene
        assert result.cold_start_share == pytest.approx(0.25)
    assert light.scene_load_node_hours == 0.0
    assert heavy.scene_load_node_hours == pytest.approx(0.5)
    assert heavy.busy_node_hours == pytest.approx(light.busy_node_hours + 0.5, abs=0.01)


def test_generated_workloads_give_every_job_a_scene_load_and_keep_the_rest() -> None:
    workload = generate_workload("normal", 20, 1.0, seed=2)
    loads = [job.scene_load_minutes for job in workload.jobs]
    assert all(0.5 <= minutes <= 10.0 for minutes in loads)
    assert len(set(loads)) > len(loads) // 2
    again = generate_workload("normal", 20, 1.0, seed=2)
    assert [j.model_dump() for j in again.jobs] == [j.model_dump() for j in workload.jobs]


def test_a_node_holding_a_scene_still_serves_work_the_starvation_guard_serves() -> None:
    # One node. A low-priority job waits behind an hour of critical work; then a shot of 60
    # one-hour high-priority tasks with days to spare arrives and the node sticks with it.
    # Sticking must not outlast the starvation guard: the low job starts after 24 hours.
    manager, clock = make_farm(nodes=1, scheduler=DeadlineScheduler(starvation_hours=24.0))
    start = clock.now()
    manager.submit_job(make_job("blocker", hours=1.0, priority="critical"))
    manager.run_scheduling_cycle()
    manager.submit_job(make_job("low", hours=1.0, deadline_in=240.0, priority="low"))
    clock.advance(timedelta(minutes=30))
    manager.submit_job(shot("flood", tasks=60, deadline_in=200.0, priority="high"))
    started_after = None
    for _ in range(60):
        clock.advance(timedelta(minutes=30))
        manager.complete_job(manager.nodes["n0"].current_job_id)
        manager.run_scheduling_cycle()
        if manager.jobs["low"].status == S.RUNNING:
            started_after = (clock.now() - start).total_seconds() / 3600.0
            break
        assert running_task(manager, "n0").job_id == "flood"
        clock.advance(timedelta(minutes=30))
    assert started_after == 24.0
