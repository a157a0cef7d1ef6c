"""Jobs: submit (as JSON), list, inspect, cancel, pause, resume, retry, reprioritise, change the
deadline. A client's token reaches only its own client's jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    JobPriority,
    RenderJob,
    RenderJobStatus,
    RenderTask,
)
from render_farm_manager.service.auth import Principal
from render_farm_manager.service.deps import Farm, Who, context, visible_job
from render_farm_manager.service.errors import ApiError, invalid, not_found
from render_farm_manager.service.schemas import (
    MAX_PAGE,
    DeadlineChange,
    JobDetail,
    JobPage,
    JobSubmission,
    JobSummary,
    PriorityChange,
)

router = APIRouter(tags=["jobs"])
JobId = Annotated[str, Path(min_length=1, max_length=256)]


def owning_client(manager: RenderFarmManager, who: Principal, requested: str | None) -> str:
    """The client a submission bills: a client token's own; for an admin, the one named."""
    if not who.is_admin:
        if requested is not None and requested != who.client_id:
            raise invalid(
                "client_id",
                f"a client's token submits for its own client only "
                f"({who.client_id!r}); leave client_id out",
            )
        assert who.client_id is not None
        requested = who.client_id
    if requested is None:
        raise invalid("client_id", "name the client the job bills")
    if requested not in manager.clients:
        raise invalid("client_id", f"unknown client {requested!r}")
    return requested


def check_dependencies(manager: RenderFarmManager, who: Principal, dependencies: list[str]) -> None:
    """A client may make its jobs wait only for its own jobs (an admin, for any)."""
    if who.is_admin:
        return
    for parent in dependencies:
        job = manager.jobs.get(parent)
        if job is None or isinstance(job, RenderTask) or job.client_id != who.client_id:
            raise invalid("dependencies", f"unknown job {parent!r}")


def job_status(manager: RenderFarmManager, job_id: str) -> dict[str, Any]:
    status = manager.get_job_status(job_id)
    if status is None:  # pragma: no cover - jobs are never removed
        raise ApiError(404, "not_found", f"unknown job {job_id!r}")
    return status


def summary(job: RenderJob) -> JobSummary:
    return JobSummary(
        id=job.id,
        name=job.name,
        client_id=job.client_id,
        status=RenderJobStatus(job.status).value,
        priority=JobPriority(job.priority).value,
        progress=job.progress,
        deadline=job.deadline,
        submission_time=job.submission_time,
        assigned_node=job.assigned_node_id,
        is_shot=job.is_shot,
    )


@router.post("/jobs", status_code=201, summary="Submit a job (a RenderJob's fields)")
def submit_job(body: JobSubmission, who: Who, manager: Farm) -> dict[str, Any]:
    client_id = owning_client(manager, who, body.client_id)
    check_dependencies(manager, who, body.dependencies)
    fields = body.model_dump(exclude_unset=True, exclude={"client_id", "steps"})
    job = RenderJob(**fields, client_id=client_id, steps=body.steps)
    manager.submit_job(job)
    return submitted(job)


def submitted(job: RenderJob) -> dict[str, Any]:
    """What a submission answers: the job as stored and what the manager saw at once (no
    forecast: that walks the whole queue; ``GET /jobs/{id}`` has it)."""
    return {
        **summary(job).model_dump(mode="json"),
        "deadline_feasible": job.deadline_feasible,
        "placement_warning": job.placement_warning,
    }


@router.get("/jobs", summary="List jobs (filtered, paged)")
def list_jobs(
    who: Who,
    manager: Farm,
    status: RenderJobStatus | None = None,
    client_id: Annotated[str | None, Query(max_length=256)] = None,
    priority: JobPriority | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JobPage:
    if not who.is_admin:
        if client_id is not None and client_id != who.client_id:
            raise ApiError(404, "not_found", f"unknown client {client_id!r}")
        client_id = who.client_id
    with manager.lock:
        jobs = [
            j
            for j in manager.jobs.values()
            if not isinstance(j, RenderTask)
            and (client_id is None or j.client_id == client_id)
            and (status is None or j.status == status)
            and (priority is None or j.priority == priority)
        ]
        jobs.sort(key=lambda j: (j.submission_time or datetime.min, j.id))
        page = [summary(j) for j in jobs[offset : offset + limit]]
    return JobPage(jobs=page, total=len(jobs), limit=limit, offset=offset)


@router.get("/jobs/{job_id}", summary="A job's status, with a page of its tasks and previews")
def inspect_job(
    job_id: JobId,
    who: Who,
    manager: Farm,
    task_status: RenderJobStatus | None = None,
    task_offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    task_limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 100,
) -> JobDetail:
    job = visible_job(manager, who, job_id)
    with manager.lock:
        status = job_status(manager, job.id)
        tasks = manager.get_task_statuses(
            job.id, status=task_status, offset=task_offset, limit=task_limit
        )
    by_status = status.get("tasks_by_status", {})
    total = by_status.get(task_status.value, 0) if task_status else status.get("tasks_total", 0)
    return JobDetail(job=status, tasks=tasks, tasks_total=total)


MAX_LOG_BYTES = 10 * 1024 * 1024


@router.get(
    "/jobs/{job_id}/log",
    summary="The output of a task's latest render (its commands and what they printed)",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
def task_log(
    job_id: JobId,
    request: Request,
    who: Who,
    manager: Farm,
    task: Annotated[
        str | None, Query(min_length=1, max_length=256, description="A task of the shot.")
    ] = None,
    tail_bytes: Annotated[int, Query(ge=1, le=MAX_LOG_BYTES)] = 65536,
) -> PlainTextResponse:
    job = visible_job(manager, who, job_id)
    with manager.lock:
        tasks = manager.tasks_of(job.id) if job.is_shot else []
        if task is None and job.is_shot:
            raise invalid("task", f"job {job.id!r} is a shot: name one of its tasks")
        task_id = task if task is not None else job.id
        if task_id != job.id and task_id not in {t.id for t in tasks}:
            raise not_found("task", task_id)
    service = context(request)
    runner = service.loop.runner if service.loop is not None else None
    text = runner.executor.task_log(task_id, tail_bytes) if runner is not None else None
    if text is None:
        raise ApiError(404, "not_found", f"no render log of {task_id!r} (not run here yet)")
    return PlainTextResponse(text)


def _act(manager: RenderFarmManager, who: Principal, job_id: str, verb: str) -> dict[str, Any]:
    job = visible_job(manager, who, job_id)
    action = {
        "cancel": manager.cancel_job,
        "pause": manager.pause_job,
        "resume": manager.resume_job,
        "retry": manager.retry_job,
    }[verb]
    if not action(job.id):
        state = RenderJobStatus(job.status).value
        raise ApiError(409, "conflict", f"job {job.id!r} is {state}: it cannot {verb} now")
    return job_status(manager, job.id)


@router.post("/jobs/{job_id}/cancel", summary="Cancel a job")
def cancel_job(job_id: JobId, who: Who, manager: Farm) -> dict[str, Any]:
    return _act(manager, who, job_id, "cancel")


@router.post("/jobs/{job_id}/pause", summary="Hold a job (a running one leaves its node)")
def pause_job(job_id: JobId, who: Who, manager: Farm) -> dict[str, Any]:
    return _act(manager, who, job_id, "pause")


@router.post("/jobs/{job_id}/resume", summary="Put a paused job back in the queue")
def resume_job(job_id: JobId, who: Who, manager: Farm) -> dict[str, Any]:
    return _act(manager, who, job_id, "resume")


@router.post("/jobs/{job_id}/retry", summary="Put a failed job back in the queue")
def retry_job(job_id: JobId, who: Who, manager: Farm) -> dict[str, Any]:
    return _act(manager, who, job_id, "retry")


@router.put("/jobs/{job_id}/priority", summary="Change a job's priority")
def set_priority(job_id: JobId, body: PriorityChange, who: Who, manager: Farm) -> dict[str, Any]:
    job = visible_job(manager, who, job_id)
    if not manager.update_job_priority(job.id, body.priority):
        state = RenderJobStatus(job.status).value
        raise ApiError(409, "conflict", f"job {job.id!r} is {state}: its priority is final")
    return job_status(manager, job.id)


@router.put("/jobs/{job_id}/deadline", summary="Change a job's deadline")
def set_deadline(job_id: JobId, body: DeadlineChange, who: Who, manager: Farm) -> dict[str, Any]:
    job = visible_job(manager, who, job_id)
    with manager.lock:
        if job.status in FINISHED_STATUSES:  # whether it was on time is settled
            state = RenderJobStatus(job.status).value
            raise ApiError(409, "conflict", f"job {job.id!r} is {state}: its deadline stays")
        job.deadline = body.deadline  # the manager applies the edit through its change path
    return job_status(manager, job.id)
