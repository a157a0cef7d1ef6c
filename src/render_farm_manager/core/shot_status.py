"""What ``get_job_status`` adds for a shot (frames, tasks, ETA from its tasks) and for a task."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    NodeStatus,
    RenderJob,
    RenderJobStatus,
    RenderTask,
)
from render_farm_manager.core.shots import ShotChanges
from render_farm_manager.core.work import remaining_hours
from render_farm_manager.jobs.commands import commands_left
from render_farm_manager.jobs.frame_range import frames_label
from render_farm_manager.node_specialization.fit import hardware_misfit

S = RenderJobStatus
BestSpeed = Callable[[RenderJob], float | None]


def task_fields(task: RenderTask) -> dict[str, Any]:
    return {
        "job_id": task.job_id,
        "step": task.step,
        "frames": frames_label(task.task_frames),
        "frames_done": len(set(task.frames_done)),
        "frames_left": frames_label(task.frames_left),
        "commands": commands_left(task),
    }


def shot_eta(
    shot: RenderJob,
    shots: ShotChanges,
    forecast: Mapping[str, datetime],
    now: datetime,
    best_speed: BestSpeed,
    online_nodes: Callable[[], int],
) -> datetime | None:
    """When the shot's last task should finish: from the scheduler's forecast of its queued and
    running tasks where it has them all; otherwise from the observed time per estimated hour of
    its finished tasks and the parallelism it actually gets (its running tasks, else the nodes
    it could get, within its machine limit)."""
    counts = shots.counts.get(shot.id, {})
    if shot.status == S.COMPLETED:
        return shot.completed_at
    if counts.get(S.PAUSED, 0) or counts.get(S.FAILED, 0) or shot.status in FINISHED_STATUSES:
        return None
    unfinished = shots.unfinished_tasks(shot)
    if not unfinished:
        return None
    latest: datetime | None = None
    for task in unfinished:
        finish = forecast.get(task.id)
        if finish is None:
            latest = None
            break
        if latest is None or finish > latest:
            latest = finish
    if latest is not None:
        return latest
    took, estimated = shots.observed.get(shot.id, (0.0, 0.0))
    if estimated > 0:
        hours_per_estimated_hour = took / estimated
    else:
        speed = best_speed(unfinished[0])
        if speed is None:
            return None
        hours_per_estimated_hour = 1.0 / speed
    running = counts.get(S.RUNNING, 0)
    limit = shot.machine_limit or len(unfinished)
    parallel = running or min(len(unfinished), limit, online_nodes())
    if parallel <= 0:
        return None
    work = sum(remaining_hours(t) for t in unfinished) * hours_per_estimated_hour
    return now + timedelta(hours=work / parallel)


def shot_fields(
    shot: RenderJob,
    shots: ShotChanges,
    forecast: Mapping[str, datetime],
    now: datetime,
    best_speed: BestSpeed,
    nodes: Mapping[str, Any],
) -> dict[str, Any]:
    """Frames and tasks of a shot, its running tasks (node, progress) and its expected finish.
    The full task list is :meth:`RenderFarmManager.get_task_statuses` (paged)."""

    def online() -> int:  # only when the forecast does not cover every task
        return sum(
            1
            for n in nodes.values()
            if n.status == NodeStatus.ONLINE and hardware_misfit(shot, n.capabilities) is None
        )

    finish = shot_eta(shot, shots, forecast, now, best_speed, online)
    counts = shots.counts.get(shot.id, {})
    if shot.status == S.COMPLETED:
        will_meet = shot.completed_at is not None and shot.completed_at <= shot.deadline
    else:
        will_meet = finish is not None and finish <= shot.deadline
    blocked = shot.blocked_reason or _blocked(shot, shots)
    return {
        "blocked_reason": blocked,
        "frames_total": shots.frames_total.get(shot.id, 0),
        "frames_done": shots.frames_done.get(shot.id, 0),
        "tasks_total": len(shots.tasks.get(shot.id, ())),
        "previews": [dict(p) for p in shots.previews.get(shot.id, [])],
        "tasks_by_status": {S(k).value: v for k, v in counts.items() if v},
        "running_tasks": [task_row(t) for t in shots.running_tasks(shot)],
        "estimated_completion": finish,
        "will_meet_deadline": will_meet,
    }


def task_row(task: RenderTask) -> dict[str, Any]:
    """One line of a shot's task list."""
    return {
        "id": task.id,
        "step": task.step,
        "frames": frames_label(task.task_frames),
        "status": S(task.status).value,
        "node": task.assigned_node_id if task.status == S.RUNNING else None,
        "progress": task.progress,
        "frames_done": len(task.frames_done),
        "error_count": task.error_count,
    }


def _blocked(shot: RenderJob, shots: ShotChanges) -> str | None:
    """Why a waiting shot cannot start: its first task held up by a job outside the shot."""
    if shot.status not in (S.PENDING, S.QUEUED) or not shot.dependencies:
        return None
    outside = set(shot.dependencies)
    for task in shots.unfinished_tasks(shot):
        if task.blocked_reason and any(d in outside for d in task.dependencies):
            return task.blocked_reason
    return None
