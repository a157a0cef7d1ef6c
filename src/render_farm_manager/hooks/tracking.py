"""What the production-tracking adapters (Kitsu, ShotGrid) share: which tracker task a job
reports to, which tracker status an event sets, how an event reads as a comment, and loading
the optional client libraries."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

from render_farm_manager.core.errors import InvalidInputError, RenderFarmError
from render_farm_manager.hooks.base import DeliveryError
from render_farm_manager.hooks.events import JobEvent, JobEventKind

INSTALL_HINT = 'pip install "render-farm-manager[tracking]"'


class MissingTrackingLibraryError(RenderFarmError, ImportError):
    """An adapter's client library (gazu, shotgun_api3) is not installed."""

    def __init__(self, module: str) -> None:
        self.module = module
        super().__init__(
            f"the {module} package is needed for this production-tracking hook; "
            f"install it with: {INSTALL_HINT}"
        )


def load_library(module: str) -> ModuleType:
    """Import an optional tracker client, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingTrackingLibraryError(module) from error


@dataclass(frozen=True)
class TrackedTask:
    """Where in the tracker a job reports: a shot's task of one task type in a project.
    ``sequence`` is the shot's sequence (Kitsu looks shots up within one when given)."""

    project: str
    shot: str
    task_type: str
    sequence: str | None = None


class TaskMap:
    """Which tracker task each job reports to.

    ``tasks`` maps job ids to their tasks explicitly. Jobs not in it are matched by name when
    ``project`` is given: the job's name is the shot's name, in ``project`` (and
    ``sequence``), task type ``task_type``. Jobs matched neither way are not reported.
    """

    def __init__(
        self,
        tasks: Mapping[str, TrackedTask] | None = None,
        *,
        project: str | None = None,
        sequence: str | None = None,
        task_type: str = "Rendering",
    ) -> None:
        for job_id, task in (tasks or {}).items():
            if not isinstance(task, TrackedTask):
                raise InvalidInputError(
                    f"task of job {job_id!r} must be a TrackedTask, got {type(task).__name__}",
                    field="tasks",
                    object_id=job_id,
                )
        self.tasks = dict(tasks or {})
        self.project = project
        self.sequence = sequence
        self.task_type = task_type

    def locate(self, event: JobEvent) -> TrackedTask | None:
        explicit = self.tasks.get(event.job_id)
        if explicit is not None:
            return explicit
        if self.project is None or not event.job_name:
            return None
        return TrackedTask(self.project, event.job_name, self.task_type, self.sequence)


def status_map(
    defaults: Mapping[JobEventKind, str], given: Mapping[JobEventKind | str, str] | None
) -> dict[JobEventKind, str]:
    """The tracker status (short name) each event kind sets; ``given`` replaces the defaults
    (an event kind left out keeps the task's status and only adds a comment or note)."""
    if given is None:
        return dict(defaults)
    statuses: dict[JobEventKind, str] = {}
    for kind, status in given.items():
        try:
            statuses[JobEventKind(kind)] = status
        except ValueError as error:
            known = ", ".join(k.value for k in JobEventKind)
            raise InvalidInputError(
                f"unknown event kind {kind!r} in statuses (known: {known})", field="statuses"
            ) from error
    return statuses


def describe(event: JobEvent) -> str:
    """The event as a line a production coordinator reads in the tracker."""
    name = event.job_name or event.job_id
    details = event.details
    at = f"{event.at:%Y-%m-%d %H:%M}"
    if event.kind == JobEventKind.SUBMITTED:
        frames = f" (frames {details['frames']})" if details.get("frames") else ""
        return f"Render farm: {name}{frames} submitted at {at}."
    if event.kind == JobEventKind.STARTED:
        return f"Render farm: {name} started rendering at {at}."
    if event.kind == JobEventKind.PREVIEW_READY:
        frame = f" of frame {details['frame']}" if details.get("frame") is not None else ""
        return f"Render farm: preview{frame} of {name} ready at {at}: {details.get('path')}"
    if event.kind == JobEventKind.AT_RISK:
        finish = details.get("estimated_completion") or "unknown"
        return (
            f"Render farm: {name} is at risk of missing its deadline {details.get('deadline')} "
            f"(expected to finish {finish})."
        )
    if event.kind == JobEventKind.COMPLETED:
        late = "" if details.get("on_time", True) else " (after its deadline)"
        return f"Render farm: {name} completed at {at}{late}."
    return f"Render farm: {name} failed at {at}: {details.get('reason') or 'no reason given'}"


def preview_file(hook: str, event: JobEvent) -> str | None:
    """The preview file a preview event carries, checked to be readable here (None for other
    events)."""
    if event.kind != JobEventKind.PREVIEW_READY:
        return None
    path = event.details.get("path")
    if not path or not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise DeliveryError(
            hook,
            f"preview of job {event.job_id} is not a readable file here: {path!r} (the "
            "render output must be visible from the machine running the manager)",
            retryable=False,
        )
    return str(path)
