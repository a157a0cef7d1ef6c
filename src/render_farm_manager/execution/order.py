"""What a render node is asked to do: a plain, picklable description of one start of a task,
made by the manager's side from the task and run by an executor on the node's side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from render_farm_manager.core.models import RenderJob, RenderTask
from render_farm_manager.jobs.commands import work_left
from render_farm_manager.jobs.expansion import MAIN_STEP


@dataclass(frozen=True)
class RenderOrder:
    task_id: str
    node_id: str
    attempt: int
    """Which start of the task this is (events of an older start are stale)."""
    plan: list[tuple[list[str], list[int]]] = field(default_factory=list)
    """(argv, the frames it renders) for each command still to run."""
    frames_total: int = 0
    frames_before: int = 0
    """Frames of the task done before this start."""
    output: str = ""
    """The task's output directory (created before the first command)."""
    resume: bool = False
    """The task ran before: the renderer continues from its saved state where it can."""
    preview_scale: float | None = None
    """Render the frames first at this fraction of the resolution (a preview pass)."""
    session: dict[str, Any] | None = None
    """Run the plan's frames as an Open Job Description session of step ``session["step"]``
    of ``session["template"]`` (with ``session["parameters"]``), not as the plan's commands."""


def render_order(
    task: RenderJob, node_id: str, attempt: int, resume: bool, job: RenderJob | None = None
) -> RenderOrder:
    """The order that renders what ``task`` still has to render on ``node_id`` (``job``: the
    shot it belongs to, whose OpenJD session it shares)."""
    frames_total = frames_before = 0
    preview_scale = None
    if isinstance(task, RenderTask):
        frames_total, frames_before = len(task.task_frames), len(set(task.frames_done))
        if task.preview and task.preview_scale:
            preview_scale = task.preview_scale
    owner = job if job is not None else task
    session = None
    if owner.openjd_session is not None:
        step = task.step if isinstance(task, RenderTask) else MAIN_STEP
        session = {**owner.openjd_session, "step": step}
    return RenderOrder(
        task_id=task.id,
        node_id=node_id,
        attempt=attempt,
        plan=work_left(task),
        frames_total=frames_total,
        frames_before=frames_before,
        output=task.output_path,
        resume=resume,
        preview_scale=preview_scale,
        session=session,
    )
