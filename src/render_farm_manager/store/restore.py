"""Rebuild a manager from what a store committed: the models, what the manager remembers beside
them, and every index derived from them (ready queue, dependencies, inheritance, running work by
node, shot counters), without writing or auditing anything."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, TypeVar

from render_farm_manager.core.errors import StoreError
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    AnyClient,
    Client,
    RenderClient,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    RenderTask,
)
from render_farm_manager.store import farm_state
from render_farm_manager.store.base import Snapshot, merged

if TYPE_CHECKING:
    from render_farm_manager.core.manager import RenderFarmManager

S = RenderJobStatus


T = TypeVar("T")


def _load(
    model: type[T], row_id: str, data: str, patch: str | None = None, status: str | None = None
) -> T:
    """The stored model: ``data``, with ``patch`` over it and ``status`` (a column of its own
    for jobs) over both."""
    try:
        if patch is None and status is not None and f'"status":"{status}"' in data:
            status = None  # the model as written has it (the model has one status field)
        fields = merged(data, patch)
        if status is not None:
            if isinstance(fields, str):
                fields = json.loads(fields)
            fields["status"] = status
        if isinstance(fields, str):
            return model.model_validate_json(fields)  # type: ignore[attr-defined, no-any-return]
        return model.model_validate(fields)  # type: ignore[attr-defined, no-any-return]
    except ValueError as error:
        raise StoreError(
            f"stored {model.__name__} {row_id!r} does not validate: {error}"
        ) from error


def restore(manager: RenderFarmManager, snapshot: Snapshot) -> None:
    """Fill a new, empty manager with ``snapshot``."""
    path = manager._path
    if path.clients or path.nodes or path.jobs:
        raise StoreError("a manager is restored from a store only while it is empty")
    with path.change():
        for row in snapshot.clients:
            client_kind: type[AnyClient] = RenderClient if row.kind == "render_client" else Client
            client = _load(client_kind, row.id, row.data)
            path.clients[client.id] = client
            path.attach(client)
            manager.resource_manager.add_client(client)
        for row in snapshot.nodes:
            node = _load(RenderNode, row.id, row.data, row.patch)
            path.nodes[node.id] = node
            path.attach(node)
            manager.resource_manager.add_node(node)
        jobs: list[RenderJob] = []
        places: dict[str, int] = {}
        for job_row in snapshot.jobs:
            kind = RenderTask if job_row.kind == "task" else RenderJob
            job: RenderJob = _load(kind, job_row.id, job_row.data, job_row.patch, job_row.status)
            path.jobs[job.id] = job
            path.attach(job)
            jobs.append(job)
            if job_row.extra:
                farm_state.apply_extra(manager, job.id, job_row.extra)
            if job_row.queue_seq is not None:
                places[job.id] = job_row.queue_seq
        farm_state.apply_docs(manager, snapshot.state)
        _rebuild_shots(manager, jobs)
        _rebuild_index(manager, jobs, places)
        counts = Counter(job.client_id for job in jobs if not isinstance(job, RenderTask))
        manager._jobs_by_client.update(counts)
        placement = manager._placement
        for job in jobs:
            if job.status in FINISHED_STATUSES:
                continue
            if (
                job.excluded_node_ids
                or job.placement_warning
                or job.id in placement.failures_on_node
            ):
                placement.watched.add(job.id)
        path.nodes_version += 1


def _rebuild_shots(manager: RenderFarmManager, jobs: list[RenderJob]) -> None:
    shots = manager._shots
    for job in jobs:
        if not isinstance(job, RenderTask):
            continue
        shot_id = job.job_id
        shots.tasks.setdefault(shot_id, []).append(job.id)
        counts = shots.counts.setdefault(shot_id, {})
        status = S(job.status)
        counts[status] = counts.get(status, 0) + 1
        shots.frames_total[shot_id] = shots.frames_total.get(shot_id, 0) + len(job.task_frames)
        shots.frames_done[shot_id] = shots.frames_done.get(shot_id, 0) + len(set(job.frames_done))


def _rebuild_index(
    manager: RenderFarmManager, jobs: list[RenderJob], places: dict[str, int]
) -> None:
    index = manager._path.index
    for job in jobs:
        index.inheritance.link(job)
    for job in jobs:
        index.place(job)
        if job.status == S.RUNNING and not job.is_shot and job.assigned_node_id:
            index.running_by_node[job.assigned_node_id] = job
    index.resync(jobs)
    index.flush()  # inherited priorities and deadlines first: then every place is final
    queue = index.queue
    for job_id, place in places.items():
        queue.requeue_at(job_id, place)
    queue.count_on()
