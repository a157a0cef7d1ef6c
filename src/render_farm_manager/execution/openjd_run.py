"""Run a task as an Open Job Description session (``openjd-sessions``), so any valid job
template runs as its author wrote it: job and step environments entered and exited around the
task, embedded files written, ``openjd_progress`` / ``openjd_status`` / ``openjd_fail`` lines
understood, action timeouts kept and the template's cancel method (``NOTIFY_THEN_TERMINATE``)
used when the task is stopped.

A task's frames are the session's tasks: one run of the step's script per chunk for a
``CHUNK[INT]`` frame parameter, per frame for an ``INT`` one; each frame is reported done when
its run succeeds (or earlier, when the renderer's adapter reads it in the output).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from openjd.model import (
    ParameterValue,
    ParameterValueType,
    RevisionExtensions,
    SpecificationRevision,
    create_job,
    decode_job_template,
)
from openjd.model.v2023_09 import Job
from openjd.sessions import LOG, ActionState, ActionStatus, Session, SessionState

from render_farm_manager.core.models import RenderFailure
from render_farm_manager.jobs.frame_range import format_frames
from render_farm_manager.jobs.openjd import SUPPORTED_EXTENSIONS, frame_parameter
from render_farm_manager.renderers.base import RendererAdapter

POLL_SECONDS = 0.05
TaskSet = dict[str, ParameterValue]


class SessionError(Exception):
    """The session could not do what the task needs; ``failure`` says whose fault it is."""

    def __init__(self, message: str, failure: RenderFailure = RenderFailure.NODE) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass
class SessionTask:
    """What the runner needs from the executor while it runs one task's session."""

    task_id: str
    session: dict[str, Any]
    plan: Sequence[tuple[list[str], list[int]]]
    directory: Path
    log: IO[str]
    adapter: RendererAdapter | None
    cancelled: Callable[[], bool]
    on_line: Callable[[str], None]
    """Each line of output (the adapter reads frames and errors from it)."""
    on_progress: Callable[[list[int], float], None]
    """The frames of the running action and its progress (percent)."""
    on_frames_done: Callable[[list[int]], None]
    tail: list[str] = field(default_factory=list)


def task_sets(
    job: Job, step_name: str, plan: Sequence[tuple[list[str], list[int]]]
) -> tuple[Any, list[tuple[TaskSet, list[int]]]]:
    """The step, and the session tasks that render the plan's frames (with their frames)."""
    step = next((s for s in job.steps if str(s.name) == step_name), None)
    if step is None:
        raise SessionError(f"the template has no step {step_name!r}", RenderFailure.SCENE)
    definitions = step.parameterSpace.taskParameterDefinitions if step.parameterSpace else {}
    frame_name = frame_parameter(definitions)
    fixed: TaskSet = {}
    for name, definition in definitions.items():
        if name != frame_name:
            value = str(next(iter(definition.range)))
            fixed[name] = ParameterValue(
                type=ParameterValueType(definition.type.value), value=value
            )
    sets: list[tuple[TaskSet, list[int]]] = []
    for _, frames in plan:
        if frame_name is None or not frames:
            sets.append((dict(fixed), list(frames)))
        elif definitions[frame_name].type.value == ParameterValueType.CHUNK_INT.value:
            chunk = ParameterValue(type=ParameterValueType.CHUNK_INT, value=_chunk(frames))
            sets.append(({**fixed, frame_name: chunk}, list(frames)))
        else:
            for frame in frames:
                one = ParameterValue(type=ParameterValueType.INT, value=str(frame))
                sets.append(({**fixed, frame_name: one}, [frame]))
    return step, sets


def _chunk(frames: list[int]) -> str:
    """A chunk's range expression: ``first-last`` when the frames are consecutive (what a
    ``CONTIGUOUS`` chunk is), else the frames' own expression."""
    first, last = min(frames), max(frames)
    if len(frames) == last - first + 1 == len(set(frames)):
        return str(first) if first == last else f"{first}-{last}"
    return format_frames(frames)


class _SessionLog(logging.Handler):
    """The session's log lines, into the task's ``render.log`` and to the adapter."""

    def __init__(self, session_id: str, task: SessionTask) -> None:
        super().__init__()
        self.session_id = session_id
        self.task = task

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "session_id", None) != self.session_id:
            return
        for line in record.getMessage().splitlines() or [""]:
            self.task.log.write(line + "\n")
            self.task.tail.append(line)
            del self.task.tail[:-50]
            self.task.on_line(line)
        self.task.log.flush()


def run_session(task: SessionTask) -> None:
    """Run the task's frames in one session; raises :class:`SessionError` when it fails (and
    returns quietly when it was cancelled)."""
    spec = task.session
    try:
        template = decode_job_template(
            template=spec["template"], supported_extensions=SUPPORTED_EXTENSIONS
        )
        values = {
            name: ParameterValue(type=ParameterValueType(value["type"]), value=value["value"])
            for name, value in spec["parameters"].items()
        }
        job = create_job(job_template=template, job_parameter_values=values)
    except (KeyError, TypeError, ValueError) as error:
        problem = f"the job's template cannot be used: {error}"
        raise SessionError(problem, RenderFailure.SCENE) from error
    assert isinstance(job, Job)
    step, sets = task_sets(job, str(spec["step"]), task.plan)
    extensions = RevisionExtensions(
        spec_rev=SpecificationRevision.v2023_09,
        supported_extensions=[str(name) for name in spec["template"].get("extensions") or []],
    )
    session_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in task.task_id)[:100]
    handler = _SessionLog(session_id, task)
    running: list[int] = []  # the frames of the task action under way

    def told(_session_id: str, status: ActionStatus) -> None:
        if running and status.progress is not None:
            task.on_progress(list(running), float(status.progress))

    LOG.addHandler(handler)
    try:
        with Session(
            session_id=session_id,
            job_parameter_values=values,
            job_name=str(job.name),
            session_root_directory=task.directory,
            revision_extensions=extensions,
            callback=told,
        ) as session:
            _run(session, task, job, step, sets, running)
    finally:
        LOG.removeHandler(handler)


def _run(
    session: Session,
    task: SessionTask,
    job: Job,
    step: Any,
    sets: list[Any],
    running: list[int],
) -> None:
    symbols = getattr(step, "resolved_symtab", None)
    entered = []
    last: list[int] = []  # reported once the environments are exited: the task ends there
    try:
        for environment in [*(job.jobEnvironments or []), *(step.stepEnvironments or [])]:
            identifier = session.enter_environment(
                environment=environment, step_name=str(step.name), resolved_symtab=symbols
            )
            entered.append(identifier)
            if not _finished(session, task, "entering environment " + str(environment.name)):
                return
        for index, (values, frames) in enumerate(sets):
            running[:] = frames
            session.run_task(
                step_script=step.script,
                task_parameter_values=values,
                step_name=str(step.name),
                resolved_symtab=symbols,
            )
            if not _finished(session, task, "the task"):
                return
            running.clear()
            if index == len(sets) - 1:
                last = frames
            else:
                task.on_frames_done(frames)
    finally:
        for identifier in reversed(entered):  # cleaning up is never cut short by a cancel
            if session.state not in (SessionState.READY, SessionState.READY_ENDING):
                break
            session.exit_environment(identifier=identifier)
            _wait(session, task, cancellable=False)
    task.on_frames_done(last)


def _wait(session: Session, task: SessionTask, cancellable: bool = True) -> ActionStatus | None:
    """Until the running action ends; a cancel of the task cancels it the template's way."""
    asked = not cancellable
    while session.state in (SessionState.RUNNING, SessionState.CANCELING):
        if task.cancelled() and not asked and session.state == SessionState.RUNNING:
            asked = True
            with contextlib.suppress(RuntimeError):  # it ended meanwhile
                session.cancel_action()
        time.sleep(POLL_SECONDS)
    return session.action_status


def _finished(session: Session, task: SessionTask, what: str) -> bool:
    """True when the action succeeded; False when the task was cancelled; SessionError when
    it failed."""
    status = _wait(session, task)
    if task.cancelled():
        return False
    if status is not None and status.state == ActionState.SUCCESS:
        return True
    state = status.state.value if status is not None else "unknown"
    said = status.fail_message if status is not None else None
    if status is not None and status.state == ActionState.TIMEOUT:
        raise SessionError(f"{what} ran past its timeout", RenderFailure.NODE)
    code = status.exit_code if status is not None else None
    kind = RenderFailure.NODE
    if task.adapter is not None and code is not None:
        kind = task.adapter.classify(code, task.tail)
    message = said or f"{what} {state}" + (f" (exit code {code})" if code is not None else "")
    raise SessionError(message, kind)
