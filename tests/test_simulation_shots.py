"""The simulator with shots: frame ranges split into tasks by the manager, rendered frame by
frame, never rendering a frame twice, measured per shot."""

import math
from datetime import datetime, time

import pytest
from builders import make_farm, make_job, make_node

from render_farm_manager.jobs.expansion import plan_tasks
from render_farm_manager.simulation.baselines import FifoScheduler
from render_farm_manager.simulation.engine import Simulation
from render_farm_manager.simulation.policies import POLICIES
from render_farm_manager.simulation.scenarios import (
    LOAD,
    SHOT_FRAMES,
    _capacity_per_hour,
    generate_workload,
)
from render_farm_manager.simulation.workload import (
    ClientSpec,
    JobSpec,
    NodeClassSpec,
    TariffPeriodSpec,
    Workload,
    WorkloadError,
)

pytestmark = pytest.mark.untraced

START = datetime(2026, 11, 23, 0, 0)


def _node_class(name: str = "cpu", count: int = 3, **fields) -> NodeClassSpec:
    values = {
        "cpu_cores": 32,
        "memory_gb": 128,
        "idle_watts": 150,
        "busy_watts": 450,
        "sleep_watts": 5,
        "mtbf_hours": 1e9,
        "speed_by_job_type": {"simulation": 1.5, "compositing": 2.0},
        "default_speed": 1.25,
        **fields,
    }
    return NodeClassSpec(name=name, count=count, **values)


def _workload(jobs: list[JobSpec], classes: list[NodeClassSpec] | None = None) -> Workload:
    return Workload(
        scenario="shots",
        seed=3,
        start=START,
        days=1,
        clients=[ClientSpec(id="a", name="A"), ClientSpec(id="b", name="B")],
        node_classes=classes or [_node_class()],
        jobs=jobs,
        tariff=[
            TariffPeriodSpec(start=time(7), end=time(23), price_per_kwh=0.2),
            TariffPeriodSpec(start=time(23), end=time(7), price_per_kwh=0.1),
        ],
    )


def _job(job_id: str, at: float = 0.0, **fields) -> JobSpec:
    values = {
        "client_id": "a",
        "job_type": "animation",
        "estimated_duration_hours": 4.0,
        "deadline_after_hours": 30.0,
        "memory_requirements_gb": 16,
        "cpu_requirements": 8,
        "noise": 1.1,
        **fields,
    }
    return JobSpec(id=job_id, submit_at_hours=at, **values)


def _studio_jobs() -> list[JobSpec]:
    return [
        _job("plate", estimated_duration_hours=1.0, job_type="scene-assembly"),
        _job("s1", frames=48, target_task_hours=1.0, dependencies=["plate"]),
        _job("s2", at=0.5, frames=30, chunk_size=7, client_id="b", supports_checkpoint=True),
        _job("s3", at=1.0, frames=24, steps=2, target_task_hours=0.5, job_type="lighting"),
        _job("s4", at=1.5, frames=40, first_frame=1, steps=3, chunk_size=5, job_type="vfx"),
        _job("s5", at=2.0, frames=24, estimated_duration_hours=0.2, job_type="compositing"),
        _job("single", at=2.5, estimated_duration_hours=2.0, client_id="b"),
    ]


def _check_every_shot_done(sim: Simulation) -> None:
    manager = sim.manager
    for spec in sim.workload.jobs:
        job = manager.jobs[spec.id]
        assert job.status == "completed", spec.id
        tasks = manager.tasks_of(spec.id)
        if not spec.is_shot:
            assert tasks == []
            continue
        assert tasks and all(t.status == "completed" for t in tasks), spec.id
        for task in tasks:
            assert sorted(task.frames_done) == sorted(task.task_frames), task.id
            assert sim.owner[task.id] == spec.id
        frames = {f for t in tasks if t.step in ("main", "render") for f in t.task_frames}
        first = spec.first_frame
        assert frames == set(range(first, first + spec.frames)), spec.id
        assert job.completed_at == max(t.completed_at for t in tasks)
    for task_id, counts in sim.frame_counts.items():  # no frame rendered twice (nor skipped)
        assert counts.rendered == counts.frames, task_id
    # per-job measures are kept per shot, never per task
    assert set(sim._used_hours) == set(sim.specs)
    assert set(sim._first_start) == set(sim.specs)


@pytest.mark.parametrize("policy", ["ours", "fifo", "opencue"])
def test_a_shot_workload_runs_to_completion(policy):
    workload = _workload(_studio_jobs())
    sim = Simulation(workload, POLICIES[policy])
    result = sim.run()
    _check_every_shot_done(sim)
    assert result.jobs_total == len(workload.jobs) == result.completed_on_time
    # the last shot was done within the day (tasks not counted as jobs), and the farm was
    # measured to the same horizon as every policy's
    assert 0 < result.last_completion_hours < workload.hours
    assert sim.now == result.simulated_hours == sim.horizon
    steps = {t.step for t in sim.manager.tasks_of("s4")}
    assert steps == {"sim", "render", "comp"}
    assert len([t for t in sim.manager.tasks_of("s4") if t.step == "sim"]) == 1
    if policy == "fifo":  # nothing lost, no previews: node-hours are the tasks' truth exactly
        assert result.render_efficiency == pytest.approx(1.0)
        assert result.first_preview_fraction_mean is not None  # the first frames done


def test_a_task_takes_its_share_of_the_shot_at_its_step_speed():
    workload = _workload([_job("s", frames=40, first_frame=1, steps=3, chunk_size=10)])
    sim = Simulation(workload, POLICIES["fifo"])
    sim.run()
    spec = workload.jobs[0]
    node_class = workload.node_classes[0]
    used = 0.0
    for task in sim.manager.tasks_of("s"):
        took = (task.completed_at - task.started_at).total_seconds() / 3600
        truth = task.estimated_duration_hours * spec.noise / node_class.speed(task.job_type)
        assert took == pytest.approx(truth, abs=1e-6), task.id
        used += took
    hours = spec.step_hours()
    assert sum(t.estimated_duration_hours for t in sim.manager.tasks_of("s")) == pytest.approx(
        spec.estimated_duration_hours
    )
    sim_task = next(t for t in sim.manager.tasks_of("s") if t.step == "sim")
    assert sim_task.job_type == "simulation" and sim_task.task_frames == []
    assert sim_task.estimated_duration_hours == pytest.approx(hours["sim"])
    assert sim._used_hours["s"] == pytest.approx(used)


def test_a_node_failure_mid_task_does_not_render_finished_frames_again():
    frame_hours = 0.1
    job = _job(
        "shot",
        frames=60,
        estimated_duration_hours=60 * frame_hours,
        chunk_size=12,
        noise=1.0,
        can_be_preempted=False,
    )
    # two nodes failing every couple of hours: tasks of 1.2 hours are often hit mid-way
    failing = _node_class(count=2, mtbf_hours=2.0, mttr_hours=0.3, default_speed=1.0)
    workload = _workload([job], [failing])
    sim = Simulation(workload, POLICIES["fifo"])
    result = sim.run()
    _check_every_shot_done(sim)
    counts = sim.frame_counts.values()
    interrupted = sum(c.interrupted_with_frames_done for c in counts)
    assert interrupted >= 2  # failures did hit tasks with frames already on disk
    restarts = [c for c in counts if c.attempts > 1]
    assert any(later > 0 for c in restarts for later in c.starts[1:])
    # each interruption loses at most the frame in progress, never the task's finished frames
    ended_early = sum(c.attempts for c in counts) - len(sim.frame_counts)
    assert ended_early >= interrupted
    assert result.work_lost_to_failures_node_hours <= ended_early * frame_hours + 1e-6


def test_baselines_take_a_shots_tasks_in_task_order():
    manager, _ = make_farm(nodes=0, clients=("c1",), scheduler=FifoScheduler())
    for i in range(12):
        manager.add_node(make_node(f"n{i}"))
    manager.submit_job(make_job("shot", hours=30.0, frames="1001-1030", chunk_size=1))
    manager.run_scheduling_cycle()
    running = {t.id for t in manager.tasks_of("shot") if t.status == "running"}
    assert running == {f"shot/main/{n}" for n in range(1, 13)}  # not 1, 10, 11, ... 19, 2


def test_generated_workloads_are_mostly_shots_at_the_scenarios_load():
    workload = generate_workload("normal", nodes=20, days=1, seed=2)
    jobs = workload.jobs
    shots = [j for j in jobs if j.is_shot]
    assert 0.6 <= len(shots) / len(jobs) <= 0.95
    assert {j.steps for j in shots} == {1, 2, 3}
    assert all(SHOT_FRAMES[0] <= j.frames <= SHOT_FRAMES[1] for j in shots)
    assert all(j.estimated_duration_hours / j.frames <= 2.0 + 1e-9 for j in shots)
    assert all((j.chunk_size is None) != (j.target_task_hours is None) for j in shots)
    offered = LOAD["normal"] * _capacity_per_hour(workload.node_classes) * workload.hours * 0.8
    work = sum(j.estimated_duration_hours * j.noise for j in jobs)  # true work, estimates biased
    assert offered <= work <= offered + max(j.estimated_duration_hours * j.noise for j in jobs)
    tasks = sum(len(plan_tasks(j.render_job(workload.start))) for j in shots)
    assert tasks < 20 * len(jobs)  # tasks of a sensible size, even chunked at speed 1


def test_shot_workloads_round_trip_and_old_files_still_load(tmp_path):
    workload = generate_workload("crunch", nodes=8, days=1, seed=4)
    assert any(j.is_shot and j.steps == 3 for j in workload.jobs)
    assert Workload.load(workload.save(tmp_path / "w.json")) == workload
    workload.save(tmp_path / "jobs.csv")
    assert workload.with_jobs_from_csv(tmp_path / "jobs.csv").jobs == workload.jobs
    # files written before shots existed: every job is a single task
    old = tmp_path / "old.csv"
    old.write_text(
        "id,client_id,job_type,submit_at_hours,estimated_duration_hours,deadline_after_hours\n"
        "j1,northlight,vfx,1,2,3\n"
    )
    (job,) = workload.with_jobs_from_csv(old).jobs
    assert not job.is_shot and job.steps == 1 and job.render_job(START).frames is None
    data = workload.model_dump(mode="json")
    for spec in data["jobs"]:
        for name in ("frames", "first_frame", "steps", "chunk_size", "target_task_hours"):
            spec.pop(name)
    assert not any(j.is_shot for j in Workload.model_validate(data).jobs)
    with pytest.raises(ValueError, match="for shots"):
        _job("x", steps=2)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,client_id,job_type,submit_at_hours,estimated_duration_hours,deadline_after_hours,"
        "steps\nj1,northlight,vfx,1,2,3,2\n"
    )
    with pytest.raises(WorkloadError, match="for shots"):
        workload.with_jobs_from_csv(bad)


def test_a_shot_spec_becomes_the_shot_the_manager_splits():
    spec = _job("s", frames=100, steps=2, chunk_size=10)
    job = spec.render_job(START)
    render, comp = job.steps
    assert render.frames == comp.frames == "1001-1100" and comp.frame_by_frame
    assert comp.depends_on == ["render"] and comp.job_type == "compositing"
    per_frame = (
        render.estimated_hours_per_frame * 100 + comp.estimated_hours_per_frame * 100
    ) / spec.frames
    assert per_frame * spec.frames == pytest.approx(spec.estimated_duration_hours)
    # composite chunks about as long as render chunks
    render_task = render.estimated_hours_per_frame * render.chunk_size
    comp_task = comp.estimated_hours_per_frame * comp.chunk_size
    assert math.isclose(render_task, comp_task, rel_tol=0.1)
