"""A shot expanded into tasks: steps, chunks of frames, preview-first order, dependencies.

Pure: the same shot and learned speed always give the same tasks. The manager turns each
:class:`PlannedTask` into a :class:`~render_farm_manager.core.models.RenderTask`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from render_farm_manager.core.errors import DependencyCycleError, InvalidInputError
from render_farm_manager.core.models import JobStep, RenderJob
from render_farm_manager.jobs.frame_range import parse_frames

MAIN_STEP = "main"
MAX_TASKS = 100_000


@dataclass(frozen=True)
class PlannedTask:
    id: str
    step: JobStep
    frames: tuple[int, ...]
    hours: float
    """Estimated hours at reference speed."""
    depends_on: tuple[str, ...]
    """Ids of tasks of the same shot this one waits for."""
    preview: bool = False
    """One of the preview-first frames (first, last, middle, every Nth)."""
    first_look: bool = False
    """The shot's very first preview frame (of a step that waits for no other step)."""


def steps_of(job: RenderJob) -> list[JobStep]:
    """The shot's steps; a job with ``frames`` and no steps has one step, ``main``."""
    if job.steps:
        return list(job.steps)
    return [
        JobStep(
            name=MAIN_STEP,
            frames=job.frames,
            chunk_size=job.chunk_size,
            target_task_seconds=job.target_task_seconds,
            command=list(job.command),
        )
    ]


def step_order(job_id: str, steps: Sequence[JobStep]) -> list[JobStep]:
    """Steps with each after the steps it depends on; refuses unknown names, repeats and cycles
    (naming the path)."""
    by_name: dict[str, JobStep] = {}
    for step in steps:
        if step.name in by_name:
            raise InvalidInputError(
                f"job {job_id!r} has two steps named {step.name!r}", field="steps", object_id=job_id
            )
        by_name[step.name] = step
    for step in steps:
        for name in step.depends_on:
            if name not in by_name:
                raise InvalidInputError(
                    f"step {step.name!r} of job {job_id!r} depends on step {name!r}, which the "
                    f"job does not have (steps: {', '.join(by_name)})",
                    field="steps",
                    object_id=job_id,
                )
    ordered: list[JobStep] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(step: JobStep, path: list[str]) -> None:
        if state.get(step.name) == 2:
            return
        if state.get(step.name) == 1:
            start = path.index(step.name)
            raise DependencyCycleError(job_id, [*path[start:], step.name])
        state[step.name] = 1
        for name in step.depends_on:
            visit(by_name[name], [*path, step.name])
        state[step.name] = 2
        ordered.append(step)

    for step in steps:
        visit(step, [])
    return ordered


def preview_first_order(
    frames: Sequence[int], every: int | None, chunk_size: int = 1
) -> tuple[list[int], list[int]]:
    """(single-frame previews: first, last, middle), (then every Nth frame) — the rest follows.
    Each preview frame is a task of its own; the rest is chunked in contiguous pieces."""
    if not frames:
        return [], []
    singles = list(dict.fromkeys([frames[0], frames[-1], frames[len(frames) // 2]]))
    if len(frames) <= 3:
        return singles, []
    # about ten frames across the range, never so dense that the chunks between them shrink
    stride = every if every is not None else max(2, 2 * chunk_size, len(frames) // 10)
    taken = set(singles)
    coarse = [frame for frame in frames[::stride] if frame not in taken]
    return singles, coarse


def chunk_size_for(
    step: JobStep, job: RenderJob, hours_per_frame: float, speed: float, hours_left: float | None
) -> int:
    """Frames per task: as asked, or what makes a task last about the target run time at the
    learned speed, never so long that one task would take half the time left to the deadline."""
    asked = step.chunk_size or job.chunk_size
    target = step.target_task_seconds or job.target_task_seconds
    seconds_per_frame = hours_per_frame * 3600.0 / max(speed, 1e-6)
    if target is not None:  # a target run time wins over a fixed chunk size
        asked = max(1, round(target / seconds_per_frame)) if seconds_per_frame > 0 else 1
        if hours_left is not None and hours_left > 0 and seconds_per_frame > 0:
            asked = min(asked, max(1, int(hours_left * 3600.0 / 2 / seconds_per_frame)))
    return asked or 1


def plan_tasks(
    job: RenderJob, speed: float = 1.0, hours_left: float | None = None
) -> list[PlannedTask]:
    """Expand the shot ``job`` into tasks, in the order they should be queued.

    ``speed``: the learned speed of the farm's nodes on this kind of work (relative to the
    estimate), for chunking by target run time. ``hours_left``: time to the deadline.
    """
    steps = step_order(job.id, steps_of(job))
    frames_of: dict[str, list[int]] = {}
    for step in steps:
        expression = step.frames if step.frames is not None else job.frames
        field = f"steps[{step.name}].frames" if job.steps else "frames"
        frames_of[step.name] = (
            parse_frames(expression, field=field) if expression is not None else []
        )
    units = sum(max(1, len(frames)) for frames in frames_of.values())
    default_per_frame = job.estimated_duration_hours / units
    planned: list[PlannedTask] = []
    task_of_frame: dict[str, dict[int, str]] = {}
    tasks_of_step: dict[str, list[str]] = {}
    for step in steps:
        frames = frames_of[step.name]
        per_frame = step.estimated_hours_per_frame or default_per_frame
        prefix = f"{job.id}/{step.name}/"
        groups, previews = _groups(step, job, frames, per_frame, speed, hours_left)
        if len(planned) + len(groups) > MAX_TASKS:
            raise InvalidInputError(
                f"job {job.id!r} would have more than {MAX_TASKS} tasks; use a larger chunk size",
                field="chunk_size",
                object_id=job.id,
            )
        frame_map = task_of_frame.setdefault(step.name, {})
        ids: list[str] = []
        for number, group in enumerate(groups, start=1):
            task_id = f"{prefix}{number}"
            ids.append(task_id)
            for frame in group:
                frame_map[frame] = task_id
            depends: list[str] = []
            for name in step.depends_on:
                upstream = task_of_frame[name]
                if step.frame_by_frame and group and upstream:
                    depends.extend(upstream[f] for f in group if f in upstream)
                else:
                    depends.extend(tasks_of_step[name])
            planned.append(
                PlannedTask(
                    id=task_id,
                    step=step,
                    frames=tuple(group),
                    hours=per_frame * max(1, len(group)),
                    depends_on=tuple(dict.fromkeys(depends)),
                    preview=number <= previews,
                    first_look=number == 1 and previews > 0 and not step.depends_on,
                )
            )
        tasks_of_step[step.name] = ids
    return planned


def _groups(
    step: JobStep,
    job: RenderJob,
    frames: list[int],
    per_frame: float,
    speed: float,
    hours_left: float | None,
) -> tuple[list[list[int]], int]:
    """The step's frames in tasks, and how many of the first tasks are preview frames."""
    if not frames:
        return [[]], 0
    size = chunk_size_for(step, job, per_frame, speed, hours_left)
    if not job.preview_first:
        return _chunks(frames, size), 0
    singles, coarse = preview_first_order(frames, job.preview_every, size)
    early = set(singles) | set(coarse)
    position = {frame: index for index, frame in enumerate(frames)}
    rest = [frame for frame in frames if frame not in early]
    groups = [[frame] for frame in singles]
    groups += [[frame] for frame in coarse]
    previews = len(groups)
    for run in contiguous_pieces(rest, position):
        groups += _chunks(run, size)
    return groups, previews


def _chunks(frames: list[int], size: int) -> list[list[int]]:
    return [frames[i : i + size] for i in range(0, len(frames), size)]


def contiguous_pieces(frames: list[int], position: dict[int, int]) -> list[list[int]]:
    """Split ``frames`` where they skip frames of the step, so that every chunk is a contiguous
    piece of the step's range (a renderer's ``start``-``end`` arguments render just it)."""
    runs: list[list[int]] = []
    for frame in frames:
        if runs and position[frame] == position[runs[-1][-1]] + 1:
            runs[-1].append(frame)
        else:
            runs.append([frame])
    return runs
