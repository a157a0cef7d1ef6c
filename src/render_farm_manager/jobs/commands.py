"""What a task runs: its command template with the frames still to render filled in."""

from __future__ import annotations

from collections.abc import Sequence

from render_farm_manager.core.models import RenderTask
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


def commands_left(task: RenderTask) -> list[list[str]]:
    """One argv per contiguous run of the frames the task still has to render (frames already
    done are never rendered again, so a rerun after a failure may be several commands)."""
    left = task.frames_left
    if not task.task_frames:
        return [list(task.command)] if task.command else []
    position = {frame: index for index, frame in enumerate(task.task_frames)}
    runs = contiguous_pieces(left, position)
    return [substitute(task.command, run) for run in runs] if task.command else []
