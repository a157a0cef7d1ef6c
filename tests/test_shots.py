"""Shots through the manager: a job with frames is split into tasks, each placed by the same core
on its own node; the shot follows its tasks, and an operation on the shot reaches its tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import T0, make_client, make_farm, make_job, make_node, running_on

from render_farm_manager.core.errors import (
    DependencyCycleError,
    InvalidInputError,
    JobFinishedError,
    RenderFarmError,
)
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    JobPriority,
    JobStep,
    NodeCapabilities,
    RenderJobStatus,
    RenderNode,
    RenderTask,
)

S = RenderJobStatus


# -- helpers --------------------------------------------------------------------------------------


def shot_job(shot_id: str = "shot", frames: str = "1-24", chunk: int | None = 4, **fields):
    fields.setdefault("preview_first", False)
    fields.setdefault("hours", 24.0)
    return make_job(shot_id, frames=frames, chunk_size=chunk, **fields)


def submitted(manager, **fields):
    job = shot_job(**fields)
    manager.submit_job(job)
    return job


def running(manager, shot_id: str = "shot") -> list[RenderTask]:
    return [t for t in manager.tasks_of(shot_id) if t.status == S.RUNNING]


def task_holding(manager, shot_id: str, frame: int, step: str = "main") -> RenderTask:
    return next(t for t in manager.tasks_of(shot_id) if t.step == step and frame in t.task_frames)


def complete_running(manager, shot_id: str = "shot") -> int:
    tasks = running(manager, shot_id)
    for task in tasks:
        assert manager.complete_job(task.id)
    return len(tasks)


def render_all(manager, shot_id: str = "shot", clock=None, max_cycles: int = 100) -> int:
    """Run cycles, completing every running task of the shot, until the shot is finished."""
    for cycle in range(1, max_cycles + 1):
        manager.run_scheduling_cycle()
        if clock is not None:
            clock.advance(timedelta(minutes=10))
        complete_running(manager, shot_id)
        if manager.jobs[shot_id].status in (S.COMPLETED, S.FAILED, S.CANCELLED):
            return cycle
    raise AssertionError(f"shot {shot_id} did not finish in {max_cycles} cycles")


def snapshot(manager):
    return (
        {k: v.model_dump() for k, v in manager.jobs.items()},
        {k: v.model_dump() for k, v in manager.nodes.items()},
        len(manager.audit_logger.entries),
        [j.id for j in manager.waiting_jobs()],
    )


def host(node_id: str, *, os: str | None = None, gpus: int = 0, gpu_memory: float = 0.0, **attrs):
    return RenderNode(
        id=node_id,
        name=node_id,
        capabilities=NodeCapabilities(
            cpu_cores=32,
            memory_gb=128,
            gpu_count=gpus,
            gpu_model="RTX" if gpus else None,
            gpu_memory_gb=gpu_memory or (24.0 if gpus else 0.0),
            os=os,
            attributes=dict(attrs),
        ),
    )


def farm_of(*nodes: RenderNode):
    manager, clock = make_farm(nodes=0)
    for node in nodes:
        manager.add_node(node)
    return manager, clock


# -- a job without frames -------------------------------------------------------------------------


def test_job_without_frames_is_not_split_and_runs_as_itself():
    manager, _ = make_farm(nodes=2)
    job = make_job("plain")
    manager.submit_job(job)
    assert not job.is_shot
    assert manager.tasks_of("plain") == []
    assert list(manager.jobs) == ["plain"]
    manager.run_scheduling_cycle()
    assert job.status is S.RUNNING and job.assigned_node_id is not None
    status = manager.get_job_status("plain")
    assert "frames_total" not in status and "running_tasks" not in status
    assert manager.complete_job("plain")
    assert job.status is S.COMPLETED and job.progress == 100


def test_plain_job_progress_is_reported_as_before():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("plain"))
    manager.run_scheduling_cycle()
    assert manager.update_job_progress("plain", 40)
    assert manager.jobs["plain"].progress == 40


def test_report_frames_done_on_a_plain_job_is_refused():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("plain"))
    manager.run_scheduling_cycle()
    with pytest.raises(InvalidInputError, match="not a task"):
        manager.report_frames_done("plain", [1])


# -- submission and the first cycle ---------------------------------------------------------------


def test_shot_is_split_into_tasks_in_frame_order():
    manager, _ = make_farm(nodes=4)
    shot = submitted(manager)
    tasks = manager.tasks_of("shot")
    assert shot.is_shot and shot.status is S.QUEUED  # ready tasks are queued at once
    assert [t.task_frames for t in tasks] == [list(range(i, i + 4)) for i in range(1, 25, 4)]
    assert all(isinstance(t, RenderTask) and t.job_id == "shot" for t in tasks)
    assert all(t.id in manager.jobs and t.status is S.QUEUED for t in tasks)
    assert {t.client_id for t in tasks} == {"c1"} and {t.deadline for t in tasks} == {shot.deadline}


def test_first_cycle_runs_four_tasks_on_four_different_nodes():
    manager, _ = make_farm(nodes=4)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    tasks = running(manager)
    assert len(tasks) == 4
    assert len({t.assigned_node_id for t in tasks}) == 4
    assert set(running_on(manager).values()) == {t.id for t in tasks}
    assert shot.status is S.RUNNING and shot.started_at == T0
    assert shot.assigned_node_id is None  # the shot itself is on no node


def test_shot_status_report_after_first_cycle():
    manager, _ = make_farm(nodes=4)
    submitted(manager)
    manager.run_scheduling_cycle()
    status = manager.get_job_status("shot")
    assert status["status"] == "running"
    assert status["frames_total"] == 24 and status["frames_done"] == 0
    assert status["tasks_total"] == 6
    assert status["tasks_by_status"] == {"running": 4, "queued": 2}
    rows = status["running_tasks"]
    assert len(rows) == 4 and len({row["node"] for row in rows}) == 4
    assert {row["status"] for row in rows} == {"running"}
    assert status["estimated_completion"] is not None
    assert status["estimated_completion"] > T0
    assert status["will_meet_deadline"] is True


def test_task_list_of_a_shot_in_queue_order_filtered_and_paged():
    manager, _ = make_farm(nodes=4)
    submitted(manager)
    manager.run_scheduling_cycle()
    rows = manager.get_task_statuses("shot")
    assert [r["frames"] for r in rows] == ["1-4", "5-8", "9-12", "13-16", "17-20", "21-24"]
    assert [r["status"] for r in rows] == ["running"] * 4 + ["queued"] * 2
    assert all(r["node"] for r in rows[:4]) and rows[4]["node"] is None
    queued = manager.get_task_statuses("shot", status="queued")
    assert [r["frames"] for r in queued] == ["17-20", "21-24"]
    page = manager.get_task_statuses("shot", offset=1, limit=2)
    assert [r["frames"] for r in page] == ["5-8", "9-12"]
    assert manager.get_task_statuses("shot", offset=10) == []


def test_task_status_report_names_its_shot_frames_and_what_is_left():
    manager, _ = make_farm(nodes=1)
    submitted(manager)
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    manager.report_frames_done(task.id, [task.task_frames[0]])
    status = manager.get_job_status(task.id)
    assert status["job_id"] == "shot" and status["step"] == "main"
    assert (
        status["frames"] == "1-4" and status["frames_done"] == 1 and status["frames_left"] == "2-4"
    )


def test_submitting_a_task_directly_is_refused():
    manager, _ = make_farm(nodes=1)
    task = RenderTask(
        id="t",
        name="t",
        client_id="c1",
        deadline=T0 + timedelta(hours=5),
        estimated_duration_hours=1,
        job_id="shot",
        task_frames=[1],
    )
    with pytest.raises(InvalidInputError, match="task of a shot"):
        manager.submit_job(task)
    assert manager.jobs == {}


def test_shot_with_bad_frames_is_refused_and_nothing_is_stored():
    manager, _ = make_farm(nodes=1)
    with pytest.raises(InvalidInputError, match="'1-10,5-20'"):
        manager.submit_job(shot_job(frames="1-10,5-20"))
    assert manager.jobs == {}


def test_shot_task_ids_that_clash_with_a_job_are_refused():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("shot/main/2"))
    before = snapshot(manager)
    with pytest.raises(InvalidInputError, match="shot/main/2"):
        manager.submit_job(shot_job())
    assert snapshot(manager) == before


# -- completing -----------------------------------------------------------------------------------


def test_completing_every_task_completes_the_shot():
    manager, clock = make_farm(nodes=4)
    shot = submitted(manager)
    cycles = render_all(manager, clock=clock)
    assert cycles == 2
    assert shot.status is S.COMPLETED
    assert shot.progress == 100
    assert shot.completed_at == clock.now()
    status = manager.get_job_status("shot")
    assert status["frames_done"] == 24 and status["tasks_by_status"] == {"completed": 6}
    assert status["running_tasks"] == []
    assert status["estimated_completion"] == shot.completed_at
    assert status["will_meet_deadline"] is True
    assert running_on(manager) == {}


def test_shot_progress_follows_completed_tasks():
    manager, _ = make_farm(nodes=4)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    manager.complete_job(running(manager)[0].id)
    assert shot.progress == pytest.approx(100 * 4 / 24)
    assert shot.status is S.RUNNING and shot.completed_at is None


def test_completing_the_shot_itself_is_refused():
    manager, _ = make_farm(nodes=1)
    shot = submitted(manager)
    before = snapshot(manager)
    with pytest.raises(InvalidInputError, match="split into tasks"):
        manager.complete_job("shot")
    assert snapshot(manager) == before and shot.status is S.QUEUED


def test_dependent_job_starts_only_after_the_shot_completes():
    manager, _ = make_farm(nodes=4)
    shot = submitted(manager)
    after = make_job("after", dependencies=["shot"])
    manager.submit_job(after)
    manager.run_scheduling_cycle()
    assert after.status is S.PENDING and "after" not in running_on(manager).values()
    complete_running(manager)
    manager.run_scheduling_cycle()  # the last two tasks run; two nodes are free
    assert after.status is S.PENDING and "after" not in running_on(manager).values()
    complete_running(manager)
    assert shot.status is S.COMPLETED
    manager.run_scheduling_cycle()
    assert after.status is S.RUNNING


def test_dependent_shot_waits_for_the_whole_first_shot():
    manager, _ = make_farm(nodes=4)
    submitted(manager, shot_id="a", frames="1-8")
    second = submitted(manager, shot_id="b", frames="1-8", dependencies=["a"])
    manager.run_scheduling_cycle()
    assert all(t.status is S.PENDING for t in manager.tasks_of("b"))
    render_all(manager, "a")
    manager.run_scheduling_cycle()
    assert len(running(manager, "b")) == 2 and second.status is S.RUNNING


# -- frames done survive --------------------------------------------------------------------------


def test_report_frames_done_marks_frames_and_progress():
    manager, _ = make_farm(nodes=1)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    assert manager.report_frames_done(task.id, [1, 2]) == 2
    assert manager.report_frames_done(task.id, [2]) == 0  # already done
    assert task.frames_done == [1, 2] and task.frames_left == [3, 4]
    assert task.progress == 50 and task.status is S.RUNNING
    assert shot.progress == pytest.approx(100 * 2 / 24)
    assert manager.get_job_status("shot")["frames_done"] == 2


def test_reporting_every_frame_of_a_task_completes_it():
    manager, _ = make_farm(nodes=1)
    submitted(manager)
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    manager.report_frames_done(task.id, task.task_frames)
    assert task.status is S.COMPLETED and task.progress == 100
    assert manager.nodes["n0"].current_job_id is None


def test_frames_done_survive_a_node_failure():
    manager, _ = make_farm(nodes=1)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    manager.report_frames_done(task.id, [1, 2, 3])
    assert manager.handle_node_failure("n0", "power") == [task.id]
    assert task.status is S.QUEUED and task.error_count == 1
    assert task.frames_done == [1, 2, 3] and task.frames_left == [4]
    assert task.progress == pytest.approx(75)
    assert shot.progress == pytest.approx(100 * 3 / 24)
    assert manager.get_job_status(task.id)["frames_left"] == "4"


def test_frames_done_survive_a_render_error():
    manager, _ = make_farm(nodes=2)
    submitted(manager, frames="1-8")
    manager.run_scheduling_cycle()
    task = manager.tasks_of("shot")[0]
    manager.report_frames_done(task.id, [1])
    assert manager.report_render_error(task.id, "segfault") == "requeued"
    assert task.status is S.QUEUED and task.frames_left == [2, 3, 4]
    assert task.progress == pytest.approx(25)
    manager.run_scheduling_cycle()
    assert task.status is S.RUNNING and task.frames_done == [1] and task.frames_left == [2, 3, 4]


def test_frames_done_survive_a_pause():
    manager, _ = make_farm(nodes=1)
    submitted(manager, frames="1-4")
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    manager.report_frames_done(task.id, [1, 2])
    assert manager.pause_job(task.id)
    assert task.status is S.PAUSED and task.frames_left == [3, 4] and task.progress == 50
    assert manager.nodes["n0"].current_job_id is None
    assert manager.resume_job(task.id)
    manager.run_scheduling_cycle()
    assert task.status is S.RUNNING and task.frames_left == [3, 4] and task.progress == 50


def test_frames_done_survive_preemption():
    manager, _ = make_farm(nodes=1)
    submitted(manager, priority="low")
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    manager.report_frames_done(task.id, [1])
    manager.submit_emergency_job(make_job("urgent", hours=1.0))
    assert manager.jobs["urgent"].status is S.RUNNING
    assert task.status is S.QUEUED
    assert task.frames_done == [1] and task.frames_left == [2, 3, 4]
    assert task.progress == pytest.approx(25)


def test_a_task_requeued_with_done_frames_completes_with_all_its_frames():
    manager, _ = make_farm(nodes=1)
    shot = submitted(manager, frames="1-4")
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    manager.report_frames_done(task.id, [1, 2])
    manager.handle_node_failure("n0")
    manager.set_node_online("n0")
    manager.run_scheduling_cycle()
    manager.complete_job(task.id)
    assert sorted(task.frames_done) == [1, 2, 3, 4] and task.frames_left == []
    assert shot.status is S.COMPLETED and manager.get_job_status("shot")["frames_done"] == 4


def test_frame_not_in_the_task_is_refused_and_nothing_changes():
    manager, _ = make_farm(nodes=1)
    submitted(manager)
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    manager.report_frames_done(task.id, [1])
    before = snapshot(manager)
    with pytest.raises(InvalidInputError, match="frame 9 is not a frame of task"):
        manager.report_frames_done(task.id, [2, 9])
    assert snapshot(manager) == before
    assert task.frames_done == [1] and task.progress == 25


def test_frames_done_on_a_finished_task_is_refused():
    manager, _ = make_farm(nodes=1)
    submitted(manager)
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    manager.complete_job(task.id)
    with pytest.raises(JobFinishedError):
        manager.report_frames_done(task.id, [1])


def test_progress_of_a_shot_cannot_be_set_directly():
    manager, _ = make_farm(nodes=1)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    before = snapshot(manager)
    with pytest.raises(InvalidInputError, match="split into tasks"):
        manager.update_job_progress("shot", 50)
    assert snapshot(manager) == before and shot.progress == 0


def test_task_progress_never_drops_below_its_done_frames():
    manager, _ = make_farm(nodes=1)
    submitted(manager)
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    manager.report_frames_done(task.id, [1, 2])
    manager.update_job_progress(task.id, 10)
    assert task.progress == 50


# -- failures -------------------------------------------------------------------------------------


def fail_task(manager, task_id: str, times: int) -> None:
    """Let ``task_id`` fail ``times`` times (the farm has a free node for it each time: a
    requeued task goes to the back of the queue)."""
    for _ in range(times):
        manager.run_scheduling_cycle()
        assert manager.jobs[task_id].status is S.RUNNING
        manager.report_render_error(task_id, "out of memory")


def test_task_failing_max_errors_times_fails_the_shot():
    manager, _ = make_farm(nodes=8, max_job_errors=3)
    shot = submitted(manager)
    bad = manager.tasks_of("shot")[1]
    fail_task(manager, bad.id, 3)
    assert bad.status is S.FAILED and bad.error_count == 3
    assert shot.status is S.FAILED
    assert bad.id in shot.failure_reason and "5-8" in shot.failure_reason
    assert "out of memory" in shot.failure_reason


def test_failed_shot_pauses_its_other_unfinished_tasks_and_frees_their_nodes():
    manager, _ = make_farm(nodes=8, max_job_errors=3)
    submitted(manager)
    first = manager.tasks_of("shot")[0]
    bad = manager.tasks_of("shot")[1]
    fail_task(manager, bad.id, 2)
    manager.complete_job(first.id)
    fail_task(manager, bad.id, 1)
    others = [t for t in manager.tasks_of("shot") if t.id not in (bad.id, first.id)]
    assert first.status is S.COMPLETED
    assert {t.status for t in others} == {S.PAUSED}
    assert running_on(manager) == {}
    manager.run_scheduling_cycle()
    assert running_on(manager) == {}  # nothing more is spent on the failed shot


def test_retry_of_a_failed_shot_requeues_the_failed_task_and_resumes_the_others():
    manager, _ = make_farm(nodes=8, max_job_errors=2)
    shot = submitted(manager)
    bad = manager.tasks_of("shot")[0]
    manager.run_scheduling_cycle()
    manager.report_frames_done(bad.id, [1])
    manager.report_render_error(bad.id, "crash")
    fail_task(manager, bad.id, 1)
    assert shot.status is S.FAILED
    assert manager.retry_job("shot")
    assert bad.status is S.QUEUED and bad.error_count == 0 and bad.failure_reason is None
    assert bad.frames_left == [2, 3, 4]
    assert all(t.status is S.QUEUED for t in manager.tasks_of("shot"))
    assert shot.status is S.QUEUED
    render_all(manager)
    assert shot.status is S.COMPLETED and shot.progress == 100


def test_retry_of_a_shot_that_has_not_failed_is_refused():
    manager, _ = make_farm(nodes=1)
    submitted(manager)
    assert manager.retry_job("shot") is False


def test_corrupt_scene_fails_the_shot_at_once():
    manager, _ = make_farm(nodes=2)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    assert manager.report_render_error(task.id, "bad scene", corrupt_scene=True) == "failed"
    assert shot.status is S.FAILED and task.id in shot.failure_reason


# -- operations on a shot reach its tasks ---------------------------------------------------------


def test_cancel_shot_cancels_every_unfinished_task_and_frees_nodes():
    manager, _ = make_farm(nodes=4)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    done = running(manager)[0]
    manager.complete_job(done.id)
    assert manager.cancel_job("shot")
    assert shot.status is S.CANCELLED
    assert done.status is S.COMPLETED
    assert all(t.status is S.CANCELLED for t in manager.tasks_of("shot") if t is not done)
    assert running_on(manager) == {}
    assert manager.cancel_job("shot") is False
    manager.run_scheduling_cycle()
    assert running_on(manager) == {}


def test_cancelling_the_last_unfinished_tasks_one_by_one_cancels_the_shot():
    manager, _ = make_farm(nodes=2)
    shot = submitted(manager, frames="1-8")
    for task in manager.tasks_of("shot"):
        manager.cancel_job(task.id)
    assert shot.status is S.CANCELLED


def test_pause_and_resume_shot():
    manager, _ = make_farm(nodes=4)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    assert manager.pause_job("shot")
    assert shot.status is S.PAUSED
    assert all(t.status is S.PAUSED for t in manager.tasks_of("shot"))
    assert running_on(manager) == {}
    manager.run_scheduling_cycle()
    assert running_on(manager) == {}
    assert manager.resume_job("shot")
    assert all(t.status is S.QUEUED for t in manager.tasks_of("shot"))
    assert shot.status is S.QUEUED
    manager.run_scheduling_cycle()
    assert len(running(manager)) == 4 and shot.status is S.RUNNING


def test_resume_of_a_shot_that_is_not_paused_is_refused():
    manager, _ = make_farm(nodes=1)
    submitted(manager)
    assert manager.resume_job("shot") is False


def test_update_priority_of_a_shot_reaches_every_unfinished_task():
    manager, _ = make_farm(nodes=4)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    done = running(manager)[0]
    manager.complete_job(done.id)
    assert manager.update_job_priority("shot", "critical")
    assert shot.priority is JobPriority.CRITICAL
    unfinished = [t for t in manager.tasks_of("shot") if t is not done]
    assert {t.priority for t in unfinished} == {JobPriority.CRITICAL}
    assert done.priority is JobPriority.MEDIUM


def test_higher_priority_shot_tasks_go_first():
    manager, _ = make_farm(nodes=2)
    submitted(manager, shot_id="low", frames="1-8")
    submitted(manager, shot_id="high", frames="1-8")
    manager.update_job_priority("high", "critical")
    manager.run_scheduling_cycle()
    assert len(running(manager, "high")) == 2 and running(manager, "low") == []


def test_editing_the_shot_deadline_reaches_its_tasks():
    manager, _ = make_farm(nodes=4)
    shot = submitted(manager)
    manager.run_scheduling_cycle()
    done = running(manager)[0]
    manager.complete_job(done.id)
    new = T0 + timedelta(hours=12)
    shot.deadline = new
    assert shot.deadline == new
    assert {t.deadline for t in manager.tasks_of("shot") if t is not done} == {new}


def test_priority_of_a_finished_shot_cannot_change():
    manager, _ = make_farm(nodes=4)
    submitted(manager, frames="1-4")
    render_all(manager)
    assert manager.update_job_priority("shot", "high") is False


# -- steps ----------------------------------------------------------------------------------------


def pipeline(**fields):
    return shot_job(
        frames="1-4",
        chunk=None,
        steps=[
            JobStep(name="sim", chunk_size=4),
            JobStep(name="render", depends_on=["sim"], chunk_size=2),
            JobStep(name="comp", depends_on=["render"], frame_by_frame=True),
        ],
        **fields,
    )


def test_steps_are_split_into_their_own_tasks():
    manager, _ = make_farm(nodes=4)
    manager.submit_job(pipeline())
    tasks = manager.tasks_of("shot")
    assert [(t.step, t.task_frames) for t in tasks] == [
        ("sim", [1, 2, 3, 4]),
        ("render", [1, 2]),
        ("render", [3, 4]),
        ("comp", [1]),
        ("comp", [2]),
        ("comp", [3]),
        ("comp", [4]),
    ]
    assert manager.get_job_status("shot")["frames_total"] == 4 + 4 + 4


def test_render_waits_for_sim_and_comp_frame_waits_for_its_render_task():
    manager, _ = make_farm(nodes=8)
    manager.submit_job(pipeline())
    manager.run_scheduling_cycle()
    sim = task_holding(manager, "shot", 1, "sim")
    assert [t.id for t in running(manager)] == [sim.id]
    manager.complete_job(sim.id)
    manager.run_scheduling_cycle()
    render_a = task_holding(manager, "shot", 1, "render")
    render_b = task_holding(manager, "shot", 3, "render")
    assert {t.id for t in running(manager)} == {render_a.id, render_b.id}
    manager.complete_job(render_b.id)  # frames 3-4 rendered; 1-2 still rendering
    manager.run_scheduling_cycle()
    comp = {f: task_holding(manager, "shot", f, "comp") for f in (1, 2, 3, 4)}
    assert comp[3].status is S.RUNNING and comp[4].status is S.RUNNING
    assert comp[1].status is S.PENDING and comp[2].status is S.PENDING
    manager.complete_job(render_a.id)
    manager.run_scheduling_cycle()
    assert comp[1].status is S.RUNNING and comp[2].status is S.RUNNING


def test_pipeline_shot_completes_when_every_step_does():
    manager, _ = make_farm(nodes=3)
    shot = pipeline()
    manager.submit_job(shot)
    render_all(manager)
    assert shot.status is S.COMPLETED
    assert {t.status for t in manager.tasks_of("shot")} == {S.COMPLETED}


def test_step_cycle_is_refused_naming_the_path_and_nothing_is_stored():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("other"))
    before = snapshot(manager)
    job = shot_job(
        frames="1-4",
        steps=[
            JobStep(name="a", depends_on=["b"]),
            JobStep(name="b", depends_on=["a"]),
        ],
    )
    with pytest.raises(DependencyCycleError) as caught:
        manager.submit_job(job)
    assert "a -> b -> a" in str(caught.value)
    assert snapshot(manager) == before
    assert list(manager.jobs) == ["other"]


def test_unknown_step_name_is_refused_and_nothing_is_stored():
    manager, _ = make_farm(nodes=2)
    job = shot_job(frames="1-4", steps=[JobStep(name="comp", depends_on=["render"])])
    with pytest.raises(InvalidInputError, match="'render'"):
        manager.submit_job(job)
    assert manager.jobs == {}


def test_refused_shot_can_be_fixed_and_submitted_again():
    manager, _ = make_farm(nodes=2)
    job = shot_job(frames="1-4", steps=[JobStep(name="comp", depends_on=["render"])])
    with pytest.raises(InvalidInputError):
        manager.submit_job(job)
    job.steps = [JobStep(name="render"), JobStep(name="comp", depends_on=["render"])]
    manager.submit_job(job)
    assert len(manager.tasks_of("shot")) == 2


# -- limits ---------------------------------------------------------------------------------------


def drive(manager, shot_ids, check, cycles: int = 60) -> None:
    """Run cycles, completing one running task of the given shots after each, checking ``check``
    after every cycle, until every shot is finished."""
    for _ in range(cycles):
        manager.run_scheduling_cycle()
        check()
        busy = [t for s in shot_ids for t in running(manager, s)]
        if busy:
            manager.complete_job(busy[0].id)
            check()
        if all(manager.jobs[s].status is S.COMPLETED for s in shot_ids):
            return
    raise AssertionError("shots did not complete")


def test_limit_caps_running_tasks_across_cycles():
    manager, _ = make_farm(nodes=8)
    manager.set_limit("arnold", 2)
    assert manager.limits == {"arnold": 2}
    submitted(manager, frames="1-12", chunk=1, limits={"arnold": 1})
    seen: list[int] = []

    def check():
        seen.append(len(running(manager)))
        assert seen[-1] <= 2

    drive(manager, ["shot"], check)
    assert max(seen) == 2


def test_limit_is_shared_by_two_shots():
    manager, _ = make_farm(nodes=8)
    manager.set_limit("arnold", 2)
    submitted(manager, shot_id="a", frames="1-6", chunk=1, limits={"arnold": 1})
    submitted(manager, shot_id="b", frames="1-6", chunk=1, limits={"arnold": 1})
    seen: list[int] = []

    def check():
        seen.append(len(running(manager, "a")) + len(running(manager, "b")))
        assert seen[-1] <= 2

    drive(manager, ["a", "b"], check)
    assert max(seen) == 2


def test_work_without_the_limit_uses_the_free_nodes():
    manager, _ = make_farm(nodes=6)
    manager.set_limit("arnold", 2)
    submitted(manager, shot_id="a", frames="1-6", chunk=1, limits={"arnold": 1})
    submitted(manager, shot_id="b", frames="1-6", chunk=1)
    manager.run_scheduling_cycle()
    assert len(running(manager, "a")) == 2 and len(running(manager, "b")) == 4


def test_removing_a_limit_lets_more_tasks_run():
    manager, _ = make_farm(nodes=4)
    manager.set_limit("arnold", 1)
    submitted(manager, frames="1-8", chunk=1, limits={"arnold": 1})
    manager.run_scheduling_cycle()
    assert len(running(manager)) == 1
    manager.set_limit("arnold", None)
    assert manager.limits == {}
    manager.run_scheduling_cycle()
    assert len(running(manager)) == 4


def test_start_job_of_a_task_beyond_its_limit_is_refused():
    manager, _ = make_farm(nodes=4)
    manager.set_limit("arnold", 1)
    submitted(manager, frames="1-8", chunk=1, limits={"arnold": 1})
    manager.run_scheduling_cycle()
    waiting = next(t for t in manager.tasks_of("shot") if t.status is S.QUEUED)
    before = snapshot(manager)
    with pytest.raises(RenderFarmError, match="arnold"):
        manager.start_job(waiting.id)
    assert snapshot(manager) == before


def test_machine_limit_caps_running_tasks_of_the_shot():
    manager, _ = make_farm(nodes=8)
    submitted(manager, frames="1-12", chunk=1, machine_limit=3)
    seen: list[int] = []

    def check():
        seen.append(len(running(manager)))
        assert seen[-1] <= 3

    drive(manager, ["shot"], check)
    assert max(seen) == 3


def test_machine_limit_leaves_other_nodes_to_other_work():
    manager, _ = make_farm(nodes=5)
    submitted(manager, shot_id="a", frames="1-12", chunk=1, machine_limit=3)
    manager.submit_job(make_job("plain"))
    manager.submit_job(make_job("plain2"))
    manager.run_scheduling_cycle()
    assert len(running(manager, "a")) == 3
    assert {"plain", "plain2"} <= set(running_on(manager).values())


# -- host requirements ----------------------------------------------------------------------------


def test_os_requirement_places_tasks_only_on_that_os():
    manager, _ = farm_of(
        host("lin1", os="linux"), host("win1", os="windows"), host("lin2", os="linux"), host("x")
    )
    submitted(manager, frames="1-8", chunk=1, os="linux")
    for _ in range(4):
        manager.run_scheduling_cycle()
        nodes = {t.assigned_node_id for t in running(manager)}
        assert nodes and nodes <= {"lin1", "lin2"}
        complete_running(manager)


def test_required_attributes_place_tasks_only_on_matching_nodes():
    manager, _ = farm_of(
        host("a7", renderer="arnold-7"),
        host("a6", renderer="arnold-6"),
        host("none"),
        host("a7b", renderer="arnold-7"),
    )
    submitted(manager, frames="1-8", chunk=1, required_attributes={"renderer": ["arnold-7"]})
    manager.run_scheduling_cycle()
    assert {t.assigned_node_id for t in running(manager)} == {"a7", "a7b"}


def test_gpu_count_places_tasks_only_on_nodes_with_enough_gpus():
    manager, _ = farm_of(host("g1", gpus=1), host("g2", gpus=2), host("g4", gpus=4), host("cpu"))
    submitted(manager, frames="1-8", chunk=1, gpu_count=2)
    manager.run_scheduling_cycle()
    assert {t.assigned_node_id for t in running(manager)} == {"g2", "g4"}
    assert all(t.requires_gpu for t in manager.tasks_of("shot"))


def test_gpu_memory_requirement_is_honoured():
    manager, _ = farm_of(host("small", gpus=2, gpu_memory=8), host("big", gpus=2, gpu_memory=48))
    submitted(manager, frames="1-4", chunk=1, gpu_count=1, gpu_memory_gb=24)
    manager.run_scheduling_cycle()
    assert {t.assigned_node_id for t in running(manager)} == {"big"}


def test_shot_no_node_can_run_gets_a_placement_warning_and_waits():
    manager, _ = farm_of(host("win", os="windows"), host("mac", os="macos"))
    shot = submitted(manager, frames="1-4", os="linux")
    assert shot.placement_warning
    assert shot.deadline_feasible is False
    assert manager.get_job_status("shot")["placement_warning"] == shot.placement_warning
    manager.run_scheduling_cycle()
    assert running_on(manager) == {} and shot.status in (S.PENDING, S.QUEUED)


def test_adding_a_fitting_node_lets_the_unplaceable_shot_run():
    manager, _ = farm_of(host("win", os="windows"))
    shot = submitted(manager, frames="1-4", os="linux")
    assert shot.placement_warning
    manager.add_node(host("lin", os="linux"))
    manager.run_scheduling_cycle()
    assert [t.assigned_node_id for t in running(manager)] == ["lin"]


# -- preview first --------------------------------------------------------------------------------


def test_preview_first_places_first_last_and_middle_frames_first():
    manager, _ = make_farm(nodes=3)
    submitted(manager, frames="1001-1100", chunk=10, preview_first=True)
    manager.run_scheduling_cycle()
    placed = sorted(t.task_frames for t in running(manager))
    assert placed == [[1001], [1051], [1100]]


def test_preview_first_tasks_come_first_in_queue_order():
    manager, _ = make_farm(nodes=3)
    submitted(manager, frames="1-100", chunk=10, preview_first=True)
    tasks = manager.tasks_of("shot")
    assert [t.task_frames for t in tasks[:3]] == [[1], [100], [51]]


def test_a_shots_first_look_goes_one_level_up_and_only_its_first_frame():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("busy", hours=1, can_be_preempted=False))
    manager.run_scheduling_cycle()
    manager.submit_job(make_job("urgent-ish", hours=2, deadline_in=20))
    submitted(manager, frames="1-100", chunk=10, preview_first=True, deadline_in=40)
    first, *rest = manager.tasks_of("shot")
    assert first.first_look and first.task_frames == [1]
    assert not any(t.first_look for t in rest)
    # the plain job of the same priority is due sooner, but the shot's first frame goes first;
    # its other preview frames wait their turn
    order = [job.id for job in manager.waiting_jobs()]
    assert order[:2] == [first.id, "urgent-ish"]
    # a critical job still goes before a medium shot's first look (it is at the high level)
    manager.submit_job(make_job("critical", priority="critical", deadline_in=45))
    assert [job.id for job in manager.waiting_jobs()][:2] == ["critical", first.id]


# -- the command a task runs ----------------------------------------------------------------------


def test_task_command_names_its_frames():
    manager, _ = make_farm(nodes=1)
    submitted(manager, frames="1-8", command=["render", "-s", "{start}", "-e", "{end}"])
    task = manager.tasks_of("shot")[1]
    assert task.command == ["render", "-s", "{start}", "-e", "{end}"]  # the template
    assert manager.get_job_status(task.id)["commands"] == [["render", "-s", "5", "-e", "8"]]


def test_a_rerun_task_renders_only_its_frames_left():
    manager, _ = make_farm(nodes=2)
    submitted(manager, frames="1-8", command=["render", "-s", "{start}", "-e", "{end}"])
    manager.run_scheduling_cycle()
    task = manager.tasks_of("shot")[1]
    manager.report_frames_done(task.id, [5, 7])
    manager.handle_node_failure(task.assigned_node_id, "lost")
    assert task.frames_left == [6, 8]
    assert manager.get_job_status(task.id)["commands"] == [
        ["render", "-s", "6", "-e", "6"],
        ["render", "-s", "8", "-e", "8"],
    ]


# -- unknown ids ----------------------------------------------------------------------------------


def test_tasks_of_unknown_job_raises():
    manager, _ = make_farm(nodes=1)
    with pytest.raises(RenderFarmError):
        manager.tasks_of("nope")


def test_tasks_of_returns_copies_of_the_order_not_the_store():
    manager, _ = make_farm(nodes=1)
    submitted(manager, frames="1-8")
    tasks = manager.tasks_of("shot")
    tasks.clear()
    assert len(manager.tasks_of("shot")) == 2


def test_managers_do_not_share_shots():
    first, _ = make_farm(nodes=1)
    second = RenderFarmManager(clock=lambda: T0)
    second.add_client(make_client("c1"))
    second.add_node(make_node("n0"))
    submitted(first, frames="1-4")
    submitted(second, frames="1-4")
    first.run_scheduling_cycle()
    assert second.tasks_of("shot")[0].status is S.QUEUED


# -- more operations and refusals -----------------------------------------------------------------


def test_editing_the_shot_machine_limit_reaches_its_tasks():
    manager, _ = make_farm(nodes=6)
    shot = submitted(manager, frames="1-12", chunk=1, machine_limit=4)
    shot.machine_limit = 2
    assert {t.machine_limit for t in manager.tasks_of("shot")} == {2}
    manager.run_scheduling_cycle()
    assert len(running(manager)) == 2


def test_step_limits_apply_to_that_step_only():
    manager, _ = make_farm(nodes=4)
    manager.set_limit("nuke", 1)
    job = shot_job(
        frames="1-4",
        chunk=1,
        steps=[JobStep(name="render"), JobStep(name="comp", limits={"nuke": 1})],
    )
    manager.submit_job(job)
    assert {t.step: t.limits for t in manager.tasks_of("shot")} == {
        "render": {},
        "comp": {"nuke": 1},
    }
    for task in manager.tasks_of("shot")[:4]:  # the render tasks
        manager.start_job(task.id)
        manager.complete_job(task.id)
    manager.run_scheduling_cycle()
    assert [t.step for t in running(manager)] == ["comp"]


def test_starting_the_shot_itself_is_refused_and_nothing_changes():
    manager, _ = make_farm(nodes=2)
    submitted(manager)
    before = snapshot(manager)
    with pytest.raises(InvalidInputError, match="split into tasks"):
        manager.start_job("shot", "n0")
    assert snapshot(manager) == before


def test_bad_limit_count_is_refused_and_the_limits_are_unchanged():
    manager, _ = make_farm(nodes=1)
    manager.set_limit("arnold", 2)
    with pytest.raises(InvalidInputError):
        manager.set_limit("arnold", -1)
    assert manager.limits == {"arnold": 2}


def test_bad_frame_value_in_a_report_is_refused_and_nothing_changes():
    manager, _ = make_farm(nodes=1)
    submitted(manager)
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    before = snapshot(manager)
    with pytest.raises(InvalidInputError):
        manager.report_frames_done(task.id, [1, "two"])
    assert snapshot(manager) == before and task.frames_done == []


def test_emergency_shot_tasks_are_critical_and_start_at_once():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("busy1", hours=10))
    manager.submit_job(make_job("busy2", hours=10))
    manager.run_scheduling_cycle()
    manager.submit_emergency_job(shot_job(frames="1-4", chunk=2))
    tasks = manager.tasks_of("shot")
    assert {t.priority for t in tasks} == {JobPriority.CRITICAL}
    assert all(t.status is S.RUNNING for t in tasks)
    assert manager.jobs["shot"].status is S.RUNNING


def test_a_cancelled_task_makes_the_finished_shot_cancelled_not_completed():
    manager, _ = make_farm(nodes=2)
    shot = submitted(manager, frames="1-8")
    manager.run_scheduling_cycle()
    first, second = manager.tasks_of("shot")
    manager.complete_job(first.id)
    manager.cancel_job(second.id)
    assert shot.status is S.CANCELLED and shot.progress == pytest.approx(50)


# -- product bugs (see the reasons) ---------------------------------------------------------------


def test_a_frame_repeated_in_one_report_counts_once():
    manager, _ = make_farm(nodes=1)
    shot = submitted(manager, frames="1-8")
    manager.run_scheduling_cycle()
    task = running(manager)[0]
    assert manager.report_frames_done(task.id, [3, 3, 3]) == 1
    assert task.frames_done == [3]
    assert manager.get_job_status("shot")["frames_done"] == 1
    assert shot.progress == pytest.approx(100 / 8)


def test_a_waiting_task_with_every_frame_done_is_not_rendered_again():
    manager, _ = make_farm(nodes=1)
    submitted(manager, frames="1-8")
    manager.run_scheduling_cycle()
    first, second = manager.tasks_of("shot")
    assert second.status is S.QUEUED
    manager.report_frames_done(second.id, [5, 6, 7, 8])
    manager.complete_job(first.id)
    manager.run_scheduling_cycle()
    assert manager.nodes["n0"].current_job_id != second.id
    assert second.status is S.COMPLETED


def test_frame_by_frame_step_waits_for_an_upstream_step_without_frames():
    manager, _ = make_farm(nodes=4)
    job = shot_job(
        frames=None,
        chunk=None,
        steps=[
            JobStep(name="sim"),
            JobStep(name="render", frames="1-3", depends_on=["sim"], frame_by_frame=True),
        ],
    )
    manager.submit_job(job)
    manager.run_scheduling_cycle()
    assert [t.step for t in running(manager)] == ["sim"]


def test_shot_that_even_an_empty_farm_cannot_finish_in_time_is_infeasible():
    manager, _ = make_farm(nodes=1)
    shot = submitted(manager, frames="1-10", chunk=1, hours=100.0, deadline_in=20.0)
    assert manager.get_job_status("shot")["will_meet_deadline"] is False
    assert shot.deadline_feasible is False


def test_shot_deadline_feasibility_after_an_edit_matches_submission():
    manager, _ = make_farm(nodes=4)
    direct = submitted(manager, shot_id="direct", deadline_in=12.0)
    edited = submitted(manager, shot_id="edited", deadline_in=48.0)
    edited.deadline = direct.deadline
    assert direct.deadline_feasible is True
    assert edited.deadline_feasible is direct.deadline_feasible


def test_shot_blocked_by_a_cancelled_dependency_says_why():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("parent"))
    submitted(manager, dependencies=["parent"])
    manager.cancel_job("parent")
    assert "parent" in (manager.get_job_status("shot")["blocked_reason"] or "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limits", {"arnold": 1}),
        ("os", "linux"),
        ("required_attributes", {"renderer": ["arnold-7"]}),
        ("gpu_count", 2),
        ("frames", "1-48"),
    ],
)
def test_editing_a_task_carried_field_of_a_shot_reaches_its_tasks_or_is_refused(field, value):
    manager, _ = make_farm(nodes=2)
    shot = submitted(manager)
    try:
        setattr(shot, field, value)
    except RenderFarmError:
        return  # refused: fine
    tasks = manager.tasks_of("shot")
    if field == "frames":
        assert sorted(f for t in tasks for f in t.task_frames) == list(range(1, 49))
    else:
        assert all(getattr(t, field) == getattr(shot, field) for t in tasks)


@pytest.mark.parametrize(
    "arguments",
    [{"status": "sleeping"}, {"offset": -1}, {"limit": -5}, {"offset": 1.5}, {"limit": "all"}],
)
def test_task_statuses_refuse_bad_paging_or_status(arguments):
    manager, _ = make_farm(nodes=1)
    submitted(manager)
    with pytest.raises(InvalidInputError):
        manager.get_task_statuses("shot", **arguments)


def test_task_statuses_of_an_unknown_job_raise():
    manager, _ = make_farm(nodes=1)
    with pytest.raises(RenderFarmError):
        manager.get_task_statuses("nope")
