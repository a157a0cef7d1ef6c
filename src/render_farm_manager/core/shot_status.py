"""What ``get_job_status`` adds for a shot (frames, tasks, ETA from its tasks) and for a task."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from render_farm_manager.core.clock import hours_between
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    NodeStatus,
    RenderJob,
    RenderJobStatus,
    RenderTask,
)
from render_farm_manager.core.work import remaining_hours
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
        "command": list(task.command),
    }


def shot_eta(
    shot: RenderJob,
    tasks: list[RenderTask],
    forecast: Mapping[str, datetime],
    now: datetime,
    best_speed: BestSpeed,
    online_nodes: int,
) -> datetime | None:
    """When the shot's last task should finish: from the scheduler's forecast of its queued and
    running tasks where it has them all; otherwise from the observed time per reference hour of
    its finished tasks and the parallelism it actually gets (running tasks, else the nodes it
    could get)."""
    unfinished = [t for t in tasks if t.status not in FINISHED_STATUSES]
    if not unfinished:
        return shot.completed_at if shot.status == S.COMPLETED else None
    if any(t.status == S.PAUSED or t.status == S.FAILED for t in tasks):
        return None
    finishes = [forecast.get(t.id) for t in unfinished]
    if all(f is not None for f in finishes):
        return max(f for f in finishes if f is not None)
    observed = [
        (hours_between(t.started_at, t.completed_at), t.estimated_duration_hours)
        for t in tasks
        if t.status == S.COMPLETED and t.started_at is not None and t.completed_at is not None
    ]
    if observed and sum(e for _, e in observed) > 0:
        hours_per_reference_hour = sum(h for h, _ in observed) / sum(e for _, e in observed)
    else:
        speed = best_speed(unfinished[0])
        if speed is None:
            return None
        hours_per_reference_hour = 1.0 / speed
    running = sum(1 for t in unfinished if t.status == S.RUNNING)
    parallel = running or min(len(unfinished), shot.machine_limit or len(unfinished), online_nodes)
    if parallel <= 0:
        return None
    work = sum(remaining_hours(t) for t in unfinished) * hours_per_reference_hour
    return now + timedelta(hours=work / parallel)


def shot_fields(
    shot: RenderJob,
    tasks: list[RenderTask],
    forecast: Mapping[str, datetime],
    now: datetime,
    best_speed: BestSpeed,
    nodes: Mapping[str, Any],
) -> dict[str, Any]:
    online = sum(
        1
        for n in nodes.values()
        if n.status == NodeStatus.ONLINE and hardware_misfit(shot, n.capabilities) is None
    )
    finish = shot_eta(shot, tasks, forecast, now, best_speed, online)
    by_status = Counter(S(t.status).value for t in tasks)
    frames_total = sum(len(t.task_frames) for t in tasks)
    frames_done = sum(len(set(t.frames_done)) for t in tasks)
    if shot.status == S.COMPLETED:
        will_meet = shot.completed_at is not None and shot.completed_at <= shot.deadline
    else:
        will_meet = finish is not None and finish <= shot.deadline
    return {
        "frames_total": frames_total,
        "frames_done": frames_done,
        "tasks_total": len(tasks),
        "tasks_by_status": dict(by_status),
        "running_on_nodes": sorted(
            t.assigned_node_id for t in tasks if t.status == S.RUNNING and t.assigned_node_id
        ),
        "estimated_completion": finish,
        "will_meet_deadline": will_meet,
        "tasks": [
            {
                "id": t.id,
                "step": t.step,
                "frames": frames_label(t.task_frames),
                "status": S(t.status).value,
                "node": t.assigned_node_id if t.status == S.RUNNING else None,
                "progress": t.progress,
                "error_count": t.error_count,
            }
            for t in tasks
        ],
    }
