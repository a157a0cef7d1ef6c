"""The part of the manager's API about shots: their tasks, the frames workers report, counted
limits. Mixed into :class:`~render_farm_manager.core.manager.RenderFarmManager`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from render_farm_manager.core import shot_status
from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.models import RenderJob, RenderJobStatus, RenderTask
from render_farm_manager.core.validation import choice, identifier, whole_number

if TYPE_CHECKING:
    from render_farm_manager.core.change_path import ChangePath
    from render_farm_manager.core.shots import ShotChanges


class ShotAPI:
    _path: ChangePath
    _shots: ShotChanges

    def _known_job(self, job_id: Any) -> RenderJob:
        raise NotImplementedError

    def tasks_of(self, job_id: str) -> list[RenderTask]:
        """The tasks a shot was split into, in queue order (preview frames first); empty for
        a job without frames. Each task is a job of its own for every job method
        (``complete_job``, ``report_render_error``, ``cancel_job`` ...)."""
        with self._path.lock:
            job = self._known_job(job_id)
            return self._shots.tasks_of(job)

    def report_frames_done(self, task_id: str, frames: Iterable[int]) -> int:
        """Frames of a task that are rendered and on disk: they are never rendered again, even
        if the task fails or is preempted later. The task completes when all its frames are
        done. Returns how many of ``frames`` were new."""
        with self._path.change():
            task = self._known_job(task_id)
            if isinstance(frames, str | bytes) or not isinstance(frames, Iterable):
                raise InvalidInputError(
                    f"frames must be a list of frame numbers, got {frames!r}", field="frames"
                )
            numbers = [whole_number(f, "frames", minimum=-(10**9)) for f in frames]
            return self._shots.report_frames(task, numbers)

    @property
    def limits(self) -> dict[str, int]:
        """Counted resources (licences, seats) by name: at most this many running tasks hold
        one at once (a copy; change with :meth:`set_limit`)."""
        return dict(self._path.limits)

    def set_limit(self, name: str, count: int | None) -> None:
        """Make ``count`` units of the named resource available (None removes the limit).
        Placement never exceeds it; work already running is not stopped."""
        name = identifier(name, "name")
        with self._path.change():
            path = self._path
            old = path.limits.get(name)
            if count is None:
                path.tx.pop_item(path.limits, name)
            else:
                path.tx.set_item(path.limits, name, whole_number(count, "count", minimum=0))
            path.log(
                "log_event",
                "limit_changed",
                f"Limit {name}: {old} -> {count}",
                limit=name,
                old_count=old,
                new_count=count,
            )

    def record_preview(self, task_id: str, frame: int, path: str) -> None:
        """A worker wrote a low-resolution pass of ``frame`` of a task to ``path``: the shot's
        status lists it with the time it became available."""
        with self._path.change():
            task = self._known_job(task_id)
            number = whole_number(frame, "frame", minimum=-(10**9))
            where = identifier(path, "path")
            self._shots.record_preview(task, number, where)

    def get_task_statuses(
        self,
        job_id: str,
        status: RenderJobStatus | str | None = None,
        offset: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The tasks of a shot, one line each (frames, status, node, progress, errors), in
        queue order; filtered by ``status`` and paged by ``offset``/``limit``."""
        wanted = choice(RenderJobStatus, status, "status", str(job_id)) if status else None
        offset = whole_number(offset, "offset", minimum=0)
        limit = whole_number(limit, "limit", minimum=0)
        with self._path.lock:
            job = self._known_job(job_id)
            tasks = self._shots.tasks_of(job)
            if wanted is not None:
                tasks = [t for t in tasks if t.status == wanted]
            return [shot_status.task_row(t) for t in tasks[offset : offset + limit]]
