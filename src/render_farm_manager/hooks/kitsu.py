"""Kitsu adapter: job events as comments (with a status) and previews on the shot's task.

Uses ``gazu`` (the ``tracking`` extra) against Zou's REST API: ``POST /api/auth/login`` (unless
a bot token is given), look-ups under ``/api/data/`` (projects, sequences, shots, task types,
tasks, task statuses), ``POST /api/actions/tasks/<task>/comment`` for each event, and for a
preview ``POST /api/actions/tasks/<task>/comments/<comment>/add-preview`` followed by the file
to ``POST /api/pictures/preview-files/<preview>``.

An event whose kind has a status in ``statuses`` sets the task to it (default: started → ``wip``,
completed → ``wfa``, waiting for approval); other events comment with the task's status
unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from render_farm_manager.core.errors import InvalidInputError
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

DEFAULT_STATUSES = {JobEventKind.STARTED: "wip", JobEventKind.COMPLETED: "wfa"}


class KitsuHook(EventHook):
    """Posts job events to the Kitsu task each job maps to (see :class:`TaskMap`).

    ``host`` is the API root (``https://kitsu.example.com/api``). Log in with ``email`` and
    ``password``, or give a bot's ``token``.
    """

    def __init__(
        self,
        host: str,
        tasks: TaskMap,
        *,
        email: str | None = None,
        password: str | None = None,
        token: str | None = None,
        statuses: Mapping[JobEventKind | str, str] | None = None,
    ) -> None:
        if token is None and (email is None or password is None):
            raise InvalidInputError("Kitsu needs email and password, or a bot token", field="token")
        self._gazu: Any = load_library("gazu")
        self.tasks = tasks
        self.statuses = status_map(DEFAULT_STATUSES, statuses)
        self._email, self._password, self._token = email, password, token
        self._client: Any = self._gazu.client.create_client(host.rstrip("/"))
        self._logged_in = False
        self._task_ids: dict[TrackedTask, dict[str, Any]] = {}
        self._status_ids: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "kitsu"

    def deliver(self, event: JobEvent) -> None:
        where = self.tasks.locate(event)
        if where is None:
            _log.debug(
                "job %s maps to no Kitsu task: %s event not posted", event.job_id, event.kind
            )
            return
        preview = preview_file(self.name, event)
        exceptions = self._gazu.exception
        with self._lock:
            try:
                self._post(event, where, preview)
            except exceptions.NotAuthenticatedException as error:
                self._logged_in = False  # log in again on the retry
                raise DeliveryError(self.name, f"not authenticated: {error}") from error
            except exceptions.AuthFailedException as error:
                raise DeliveryError(
                    self.name, f"login refused: {error}", retryable=False
                ) from error
            except (
                exceptions.ParameterException,
                exceptions.RouteNotFoundException,
                exceptions.NotAllowedException,
                exceptions.MethodNotAllowedException,
                exceptions.ValidationException,
                exceptions.TooBigFileException,
                exceptions.UploadFailedException,
            ) as error:
                raise DeliveryError(
                    self.name, f"{type(error).__name__}: {error}", retryable=False
                ) from error

    def _post(self, event: JobEvent, where: TrackedTask, preview: str | None) -> None:
        gazu, client = self._gazu, self._client
        self._log_in()
        task = self._task(where)
        short = self.statuses.get(event.kind)
        if short is not None:
            status = self._status(short)
        else:  # keep the task's status as it is now (someone may have changed it)
            current = gazu.client.fetch_one("tasks", task["id"], client=client)
            status = {"id": current["task_status_id"]}
        comment = gazu.task.add_comment(task, status, describe(event), client=client)
        if preview is not None:
            gazu.task.add_preview(task, comment, preview, client=client)

    def _log_in(self) -> None:
        if self._logged_in:
            return
        if self._token is not None:
            self._gazu.client.set_tokens({"access_token": self._token}, client=self._client)
        else:
            self._gazu.log_in(self._email, self._password, client=self._client)
        self._logged_in = True

    def _task(self, where: TrackedTask) -> dict[str, Any]:
        """The Kitsu task (looked up once, then remembered)."""
        known = self._task_ids.get(where)
        if known is not None:
            return known
        gazu, client = self._gazu, self._client
        project = gazu.project.get_project_by_name(where.project, client=client)
        if project is None:
            raise self._missing(f"project {where.project!r}")
        if where.sequence is not None:
            sequence = gazu.shot.get_sequence_by_name(project, where.sequence, client=client)
            if sequence is None:
                raise self._missing(f"sequence {where.sequence!r} in {where.project!r}")
            shot = gazu.shot.get_shot_by_name(sequence, where.shot, client=client)
        else:
            shot = gazu.client.fetch_first(
                "shots", {"project_id": project["id"], "name": where.shot}, client=client
            )
        if shot is None:
            raise self._missing(f"shot {where.shot!r} in {where.project!r}")
        task_type = gazu.task.get_task_type_by_name(where.task_type, client=client)
        if task_type is None:
            raise self._missing(f"task type {where.task_type!r}")
        task = gazu.task.get_task_by_entity(shot, task_type, client=client)
        if task is None:
            raise self._missing(f"{where.task_type!r} task of shot {where.shot!r}")
        found: dict[str, Any] = task
        self._task_ids[where] = found
        return found

    def _status(self, short_name: str) -> dict[str, Any]:
        known = self._status_ids.get(short_name)
        if known is None:
            known = self._gazu.task.get_task_status_by_short_name(short_name, client=self._client)
            if known is None:
                raise self._missing(f"task status {short_name!r}")
            self._status_ids[short_name] = known
        return known

    def _missing(self, what: str) -> DeliveryError:
        return DeliveryError(self.name, f"Kitsu has no {what}", retryable=False)

    def close(self) -> None:
        session = getattr(self._client, "session", None)
        if session is not None:
            session.close()
