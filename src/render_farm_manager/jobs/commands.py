"""What a task runs: its command template with the frames still to render filled in."""

from __future__ import annotations

from collections.abc import Sequence

from render_farm_manager.core.models import RenderJob, RenderTask
from render_farm_manager.jobs.expansion import contiguous_pieces
from render_farm_manager.jobs.frame_range import frames_label


def substitute(command: Sequence[str], frames: Sequence[int]) -> list[str]:
    """``command`` with ``{start}``, ``{end}`` and ``{frames}`` replaced for ``frames``."""
    if not command or not frames:
        return list(command)
    values = {"start": str(min(frames)), "end": str(max(frames)), "frames": frames_label(frames)}
    out = []
    for part in command:
        for name, value in values.items():
            part = part.replace("{" + name + "}", value)
        out.append(part)
    return out


def work_left(task: RenderJob) -> list[tuple[list[str], list[int]]]:
    """(argv, the frames it renders) for each contiguous run of the frames the task still has
    to render (frames already done are never rendered again, so a rerun after a failure may be
    several commands); a job without frames runs its command once."""
    if not task.command:
        return []
    if not isinstance(task, RenderTask) or not task.task_frames:
        return [(list(task.command), [])]
    position = {frame: index for index, frame in enumerate(task.task_frames)}
    pieces = contiguous_pieces(task.frames_left, position)
    return [(substitute(task.command, piece), piece) for piece in pieces]


def commands_left(task: RenderJob) -> list[list[str]]:
    """The argv lists of :func:`work_left`."""
    return [argv for argv, _ in work_left(task)]
