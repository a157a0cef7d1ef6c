"""Properties of shots through the manager, over random shots, farms and sequences of events.

After any sequence of cycles, completions, frame reports, node failures, render errors, pauses,
resumes, retries, cancellations and priority changes:

* the shot's status is the one its tasks' statuses give, and its progress is its share of frames
  done (100 once completed);
* a frame once done stays done, and a task's frames left are its frames minus those;
* nodes and running tasks agree, one task per node, and a task runs only where it fits;
* no counted limit and no machine limit is ever exceeded.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import make_farm, make_job
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    NodeCapabilities,
    NodeStatus,
    RenderJobStatus,
    RenderNode,
)
from render_farm_manager.jobs.frame_range import format_frames
from render_farm_manager.node_specialization.fit import hardware_misfit

S = RenderJobStatus
UNFINISHED = (S.PENDING, S.QUEUED, S.RUNNING, S.PAUSED)
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = pytest.mark.untraced


def expected_shot_status(tasks) -> set[S]:
    statuses = [t.status for t in tasks]
    unfinished = [s for s in statuses if s in UNFINISHED]
    if S.FAILED in statuses:
        return {S.FAILED}
    if not unfinished:
        return {S.CANCELLED} if S.CANCELLED in statuses else {S.COMPLETED}
    if S.RUNNING in unfinished:
        return {S.RUNNING}
    if all(s is S.PAUSED for s in unfinished):
        return {S.PAUSED}
    return {S.PENDING, S.QUEUED}


class Watch:
    """Checks the invariants after every event."""

    def __init__(self, manager, shot_id: str, cap: int | None) -> None:
        self.manager = manager
        self.shot_id = shot_id
        self.cap = cap
        self.done: dict[str, set[int]] = {}

    def check(self) -> None:
        manager = self.manager
        shot = manager.jobs[self.shot_id]
        tasks = manager.tasks_of(self.shot_id)
        assert shot.status in expected_shot_status(tasks)
        total = sum(len(t.task_frames) for t in tasks)
        done = sum(len(set(t.frames_done)) for t in tasks)
        if shot.status is S.COMPLETED:
            assert shot.progress == 100 and done == total
            assert shot.completed_at is not None
        else:
            assert shot.progress == pytest.approx(100.0 * done / total)
        status = manager.get_job_status(self.shot_id)
        assert status["frames_total"] == total and status["frames_done"] == done
        assert status["tasks_total"] == len(tasks)
        assert sum(status["tasks_by_status"].values()) == len(tasks)
        for task in tasks:
            frames = set(task.frames_done)
            assert frames <= set(task.task_frames)
            assert len(frames) == len(task.frames_done)
            assert frames >= self.done.get(task.id, set()), "a done frame was lost"
            self.done[task.id] = frames
            assert task.frames_left == [f for f in task.task_frames if f not in frames]
            assert task.progress >= task.kept_progress() - 1e-9
            if task.status not in FINISHED_STATUSES:
                assert task.priority == shot.priority and task.deadline == shot.deadline
        own = {t.id for t in tasks}
        busy = {n.current_job_id for n in manager.nodes.values() if n.current_job_id in own}
        running = [t for t in tasks if t.status is S.RUNNING]
        assert {t.id for t in running} == busy
        for task in running:
            node = manager.nodes[task.assigned_node_id]
            assert node.current_job_id == task.id
            assert hardware_misfit(task, node.capabilities) is None
        if self.cap is not None:
            assert len(running) <= self.cap


EVENTS = st.sampled_from(
    [
        "cycle",
        "cycle",
        "cycle",
        "complete",
        "complete",
        "frames",
        "frames",
        "node_failure",
        "online",
        "render_error",
        "pause_task",
        "resume_task",
        "pause_shot",
        "resume_shot",
        "retry_shot",
        "priority",
        "cancel_shot",
        "emergency",
        "deadline",
    ]
)


@st.composite
def farms(draw):
    frames = draw(st.sets(st.integers(min_value=1, max_value=60), min_size=1, max_size=30))
    return {
        "frames": format_frames(frames),
        "chunk": draw(st.integers(min_value=1, max_value=6)),
        "preview_first": draw(st.booleans()),
        "nodes": draw(st.integers(min_value=1, max_value=6)),
        "licences": draw(st.none() | st.integers(min_value=1, max_value=3)),
        "machine_limit": draw(st.none() | st.integers(min_value=1, max_value=4)),
    }


def run_event(manager, clock, shot_id: str, event: str, data) -> None:
    tasks = manager.tasks_of(shot_id)
    running = [t for t in tasks if t.status is S.RUNNING]
    pick = lambda items: data.draw(st.sampled_from(items))  # noqa: E731
    if event == "cycle":
        clock.advance(timedelta(minutes=data.draw(st.integers(0, 90))))
        manager.run_scheduling_cycle()
    elif event == "complete":
        others = [j for j in manager.jobs.values() if j.status is S.RUNNING and not j.is_shot]
        if others:
            assert manager.complete_job(pick(others).id)
    elif event == "frames" and running:
        task = pick(running)
        left = task.frames_left
        frames = data.draw(st.lists(st.sampled_from(left), min_size=1, unique=True))
        assert manager.report_frames_done(task.id, frames) == len(frames)
    elif event == "node_failure" and running:
        task = pick(running)
        assert manager.handle_node_failure(task.assigned_node_id, "crash") == [task.id]
    elif event == "online":
        for node in manager.nodes.values():
            if node.status is not NodeStatus.ONLINE:
                manager.set_node_online(node.id)
    elif event == "render_error" and running:
        assert manager.report_render_error(pick(running).id, "boom") in ("failed", "requeued")
    elif event == "pause_task":
        pausable = [t for t in tasks if t.status in (S.QUEUED, S.RUNNING)]
        if pausable:
            assert manager.pause_job(pick(pausable).id)
    elif event == "resume_task":
        paused = [t for t in tasks if t.status is S.PAUSED]
        if paused and manager.jobs[shot_id].status is not S.FAILED:
            assert manager.resume_job(pick(paused).id)
    elif event == "pause_shot":
        manager.pause_job(shot_id)
    elif event == "resume_shot":
        manager.resume_job(shot_id)
    elif event == "retry_shot":
        assert manager.retry_job(shot_id) == any(t.status is S.FAILED for t in tasks)
    elif event == "priority":
        manager.update_job_priority(shot_id, pick(["low", "medium", "high", "critical"]))
    elif event == "cancel_shot" and data.draw(st.integers(0, 3)) == 0:  # rarely
        manager.cancel_job(shot_id)
    elif event == "emergency":
        manager.submit_emergency_job(make_job(f"urgent{len(manager.jobs)}", hours=1.0))
    elif event == "deadline" and manager.jobs[shot_id].status not in FINISHED_STATUSES:
        shot = manager.jobs[shot_id]
        shot.deadline = shot.deadline + timedelta(hours=data.draw(st.integers(-24, 24)))


@PROPERTY
@given(farms(), st.lists(EVENTS, min_size=1, max_size=40), st.data())
def test_shot_invariants_hold_after_any_sequence_of_events(farm, events, data):
    manager, clock = make_farm(nodes=farm["nodes"], max_job_errors=3)
    limits = {}
    if farm["licences"] is not None:
        manager.set_limit("arnold", farm["licences"])
        limits = {"arnold": 1}
    caps = [c for c in (farm["licences"], farm["machine_limit"]) if c is not None]
    shot = make_job(
        "shot",
        frames=farm["frames"],
        chunk_size=farm["chunk"],
        preview_first=farm["preview_first"],
        machine_limit=farm["machine_limit"],
        limits=limits,
        hours=10.0,
    )
    manager.submit_job(shot)
    watch = Watch(manager, "shot", min(caps) if caps else None)
    watch.check()
    for event in events:
        run_event(manager, clock, "shot", event, data)
        watch.check()


@PROPERTY
@given(farms())
def test_a_shot_rendered_to_the_end_completes_with_every_frame_done(farm):
    manager, _ = make_farm(nodes=farm["nodes"])
    if farm["licences"] is not None:
        manager.set_limit("arnold", farm["licences"])
    shot = make_job(
        "shot",
        frames=farm["frames"],
        chunk_size=farm["chunk"],
        preview_first=farm["preview_first"],
        machine_limit=farm["machine_limit"],
        limits={"arnold": 1} if farm["licences"] else {},
        hours=10.0,
    )
    manager.submit_job(shot)
    watch = Watch(manager, "shot", None)
    first = True
    for _ in range(200):
        manager.run_scheduling_cycle()
        watch.check()
        running = [t for t in manager.tasks_of("shot") if t.status is S.RUNNING]
        if first:
            caps = [farm["nodes"], len(manager.tasks_of("shot"))]
            caps += [c for c in (farm["licences"], farm["machine_limit"]) if c]
            assert len(running) == min(caps)
            first = False
        for task in running:
            manager.complete_job(task.id)
        if shot.status is S.COMPLETED:
            break
    assert shot.status is S.COMPLETED and shot.progress == 100
    status = manager.get_job_status("shot")
    assert status["frames_done"] == status["frames_total"]
    frames = sorted(f for t in manager.tasks_of("shot") for f in t.frames_done)
    assert frames == sorted(f for t in manager.tasks_of("shot") for f in t.task_frames)


@st.composite
def hosts(draw):
    count = draw(st.integers(min_value=1, max_value=6))
    nodes = []
    for index in range(count):
        nodes.append(
            RenderNode(
                id=f"h{index}",
                name=f"h{index}",
                capabilities=NodeCapabilities(
                    cpu_cores=32,
                    memory_gb=128,
                    gpu_count=(gpus := draw(st.integers(0, 4))),
                    gpu_model="RTX" if gpus else None,
                    gpu_memory_gb=draw(st.sampled_from([8.0, 24.0, 48.0])) if gpus else 0.0,
                    os=draw(st.sampled_from([None, "linux", "windows"])),
                    attributes=draw(
                        st.sampled_from([{}, {"renderer": "arnold-7"}, {"renderer": "arnold-6"}])
                    ),
                ),
            )
        )
    return nodes


@PROPERTY
@given(
    hosts(),
    st.sampled_from([None, "linux", "windows"]),
    st.integers(0, 3),
    st.sampled_from([0.0, 24.0]),
    st.sampled_from([{}, {"renderer": ["arnold-7"]}]),
)
def test_tasks_run_only_on_hosts_that_meet_the_shot_requirements(
    nodes, os, gpus, gpu_memory, attributes
):
    manager, _ = make_farm(nodes=0)
    for node in nodes:
        manager.add_node(node)
    shot = make_job(
        "shot",
        frames="1-12",
        chunk_size=1,
        preview_first=False,
        os=os,
        gpu_count=gpus,
        gpu_memory_gb=gpu_memory,
        required_attributes=attributes,
        memory_requirements_gb=16,
        cpu_requirements=8,
    )
    manager.submit_job(shot)
    fitting = {
        node.id
        for node in nodes
        if (os is None or node.capabilities.os == os)
        and node.capabilities.gpu_count >= gpus
        and (gpu_memory == 0 or node.capabilities.gpu_memory_gb >= gpu_memory)
        and all(node.capabilities.attributes.get(k) in v for k, v in attributes.items())
    }
    assert (shot.placement_warning is None) == bool(fitting)
    manager.run_scheduling_cycle()
    placed = {t.assigned_node_id for t in manager.tasks_of("shot") if t.status is S.RUNNING}
    assert placed == fitting
