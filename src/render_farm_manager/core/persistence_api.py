"""The part of the manager's API about its store and restarts. Mixed into
:class:`~render_farm_manager.core.manager.RenderFarmManager`; the stores themselves live in
:mod:`render_farm_manager.store`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.models import RenderJobStatus

if TYPE_CHECKING:
    from render_farm_manager.core.change_path import ChangePath
    from render_farm_manager.core.job_changes import JobChanges
    from render_farm_manager.store.base import Store


class PersistenceAPI:
    _path: ChangePath
    _jobs: JobChanges

    @property
    def lock(self) -> threading.RLock:
        """The manager's lock: hold it to read several models as one consistent view (every
        public method takes it; it is re-entrant)."""
        return self._path.lock

    def change_set(self) -> AbstractContextManager[object]:
        """Group several calls (or edits of held models) into one change: all of them are
        applied, written to the store and audited together, or, if one raises, none."""
        return self._path.change()

    @property
    def store(self) -> Store | None:
        """Where committed changes are written (None: this manager keeps its state in memory)."""
        return self._path.store

    def close(self) -> None:
        """Close the store (and give up the leadership it holds); the manager then refuses
        changes. A manager without a store has nothing to close."""
        with self._path.lock:
            store = self._path.store
            if store is None:
                return
            if self._path.broken is None:
                self._path.broken = "the manager was closed"
            committer = getattr(self._path.persist, "committer", None)
        if committer is not None:  # what is queued is committed first (outside the lock)
            committer.close()
        with self._path.lock:
            store.close()

    def requeue_lost_work(self, still_running: Mapping[str, Any]) -> list[str]:
        """After a restart: work the manager has on a node that is not running there any more
        (``still_running``: task id → node id, as the workers report it) goes back to the
        queue, keeping its checkpointed progress and the frames it finished, without counting
        as a failure; work still running stays attached to its node. Returns the ids
        requeued."""
        if not isinstance(still_running, Mapping):
            raise InvalidInputError(
                f"still_running must map task ids to node ids, got {type(still_running).__name__}",
                field="still_running",
            )
        with self._path.change():
            lost = [
                job
                for job in self._path.jobs.values()
                if job.status == RenderJobStatus.RUNNING
                and not job.is_shot
                and still_running.get(job.id) != job.assigned_node_id
            ]
            for job in lost:
                self._jobs.requeue(
                    job, "not running on its node after a restart", keep_progress=True
                )
            return [job.id for job in lost]
