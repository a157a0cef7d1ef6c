"""ShotGrid (Flow Production Tracking) adapter: job events as the shot task's status, notes
and preview Versions.

Uses ``shotgun_api3`` (the ``tracking`` extra), which speaks JSON-RPC to ``POST /api3/json``
(``info``, then ``read`` to find the Project, the Shot by ``code`` and its Task by
``content``; ``update`` to set the task's ``sg_status_list``; ``create`` for Notes and
Versions) and uploads files with a form to ``/upload/upload_file`` (or to cloud storage when
the site says so).

An event whose kind has a status in ``statuses`` sets the task to it (default: started →
``ip``, in progress; completed → ``rev``, pending review). Other events, except previews, add a
Note on the task (``notes=False`` turns that off). A preview creates a Version of the shot,
linked to the task, with the file uploaded to ``preview_field``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from render_farm_manager.hooks.base import DeliveryError, EventHook
from render_farm_manager.hooks.events import JobEvent, JobEventKind
from render_farm_manager.hooks.tracking import (
    TaskMap,
    TrackedTask,
    describe,
    load_library,
    preview_file,
    status_map,
)

_log = logging.getLogger(__name__)

DEFAULT_STATUSES = {JobEventKind.STARTED: "ip", JobEventKind.COMPLETED: "rev"}


class ShotGridHook(EventHook):
    """Posts job events to the ShotGrid task each job maps to (see :class:`TaskMap`).

    ``base_url`` is the site (``https://studio.shotgrid.autodesk.com``); a script's
    ``script_name`` and ``api_key`` authenticate. ``task_field`` is the Task field matched
    against the task type (``content``, the task's name, by default).
    """

    def __init__(
        self,
        base_url: str,
        script_name: str,
        api_key: str,
        tasks: TaskMap,
        *,
        statuses: Mapping[JobEventKind | str, str] | None = None,
        notes: bool = True,
        preview_field: str = "sg_uploaded_movie",
        task_field: str = "content",
        timeout: float = 30.0,
    ) -> None:
        self._sg_module: Any = load_library("shotgun_api3")
        self.tasks = tasks
        self.statuses = status_map(DEFAULT_STATUSES, statuses)
        self.notes = notes
        self.preview_field = preview_field
        self.task_field = task_field
        self._connection = (base_url.rstrip("/"), script_name, api_key)
        self._timeout = timeout
        self._sg: Any = None
        self._found: dict[TrackedTask, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "shotgrid"

    def deliver(self, event: JobEvent) -> None:
        where = self.tasks.locate(event)
        if where is None:
            _log.debug(
                "job %s maps to no ShotGrid task: %s event not posted", event.job_id, event.kind
            )
            return
        preview = preview_file(self.name, event)
        sg = self._sg_module
        with self._lock:
            try:
                self._post(event, where, preview)
            except sg.ProtocolError as error:  # an HTTP status other than 2xx
                retryable = error.errcode >= 500 or error.errcode in (408, 429)
                raise DeliveryError(
                    self.name, f"HTTP {error.errcode} {error.errmsg}", retryable=retryable
                ) from error
            except sg.Fault as error:  # the API refused the call (bad field, auth, permission)
                raise DeliveryError(
                    self.name, f"{type(error).__name__}: {error}", retryable=False
                ) from error

    def _client(self) -> Any:
        if self._sg is None:
            base_url, script_name, api_key = self._connection
            sg = self._sg_module.Shotgun(
                base_url, script_name=script_name, api_key=api_key, connect=False
            )
            sg.config.timeout_secs = self._timeout
            self._sg = sg
        return self._sg

    def _post(self, event: JobEvent, where: TrackedTask, preview: str | None) -> None:
        sg = self._client()
        project, shot, task = self._task(where)
        status = self.statuses.get(event.kind)
        if status is not None:
            sg.update("Task", task["id"], {"sg_status_list": status})
        if preview is not None:
            frame = event.details.get("frame")
            code = f"{event.job_name or event.job_id} preview" + (
                f" frame {frame}" if frame is not None else ""
            )
            version = sg.create(
                "Version",
                {
                    "project": project,
                    "code": code,
                    "entity": shot,
                    "sg_task": task,
                    "description": describe(event),
                },
            )
            sg.upload("Version", version["id"], preview, field_name=self.preview_field)
        elif status is None and self.notes:
            sg.create(
                "Note",
                {
                    "project": project,
                    "subject": f"Render farm: {event.kind.value.replace('_', ' ')}",
                    "content": describe(event),
                    "note_links": [shot],
                    "tasks": [task],
                },
            )

    def _task(self, where: TrackedTask) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The project, shot and task (looked up once, then remembered)."""
        known = self._found.get(where)
        if known is not None:
            return known
        sg = self._client()
        project = sg.find_one("Project", [["name", "is", where.project]])
        if project is None:
            raise self._missing(f"project {where.project!r}")
        shot = sg.find_one("Shot", [["project", "is", project], ["code", "is", where.shot]])
        if shot is None:
            raise self._missing(f"shot {where.shot!r} in {where.project!r}")
        task = sg.find_one(
            "Task", [["entity", "is", shot], [self.task_field, "is", where.task_type]]
        )
        if task is None:
            raise self._missing(f"task {where.task_type!r} of shot {where.shot!r}")
        found = (_link(project), _link(shot), _link(task))
        self._found[where] = found
        return found

    def _missing(self, what: str) -> DeliveryError:
        return DeliveryError(self.name, f"ShotGrid has no {what}", retryable=False)

    def close(self) -> None:
        if self._sg is not None:
            self._sg.close()


def _link(entity: Mapping[str, Any]) -> dict[str, Any]:
    """An entity as ShotGrid links take it."""
    return {"type": entity["type"], "id": entity["id"]}
