"""Submit a job file: the request body is the file itself (at most 10 MB); its format is told
by ``filename``'s suffix, as for ``render-farm submit``. With ``dry_run`` the file is read and
checked, and nothing is submitted (the CLI checks every file before it submits any)."""

from __future__ import annotations

import re
import tempfile
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from render_farm_manager.core.errors import DuplicateIdError, JobFileError
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import MAX_HOURS, JobPriority, RenderJob
from render_farm_manager.jobs.loader import (
    DEADLINE_SUFFIXES,
    MAX_JOB_FILE_BYTES,
    OPENJD_SUFFIXES,
    load_job_file,
)
from render_farm_manager.service.auth import Principal
from render_farm_manager.service.deps import Farm, Who
from render_farm_manager.service.errors import ApiError, invalid
from render_farm_manager.service.routes.jobs import check_dependencies, job_status, owning_client
from render_farm_manager.service.schemas import ID_PATTERN, SubmittedFile

router = APIRouter(tags=["jobs"])

JOB_FILE_SUFFIXES = (*OPENJD_SUFFIXES, ".xml", *DEADLINE_SUFFIXES)
FILENAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,200}$"
MAX_PARAMETERS = 100
_ID = re.compile(ID_PATTERN)

_FILE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The job file's bytes (at most 10 MB).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


async def read_job_file(request: Request) -> bytes:
    too_large = ApiError(
        413,
        "too_large",
        f"file: a job file may be at most {MAX_JOB_FILE_BYTES // (1024 * 1024)} MB",
        field="file",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_JOB_FILE_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JOB_FILE_BYTES:
            raise too_large
        chunks.append(chunk)
    if size == 0:
        raise invalid("file", "the request body (the job file) is empty")
    return b"".join(chunks)


def parse_parameters(values: list[str]) -> dict[str, str]:
    if len(values) > MAX_PARAMETERS:
        raise invalid("param", f"at most {MAX_PARAMETERS} parameters")
    parameters: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip() or len(value) > 10_000:
            raise invalid("param", f"{value[:100]!r} is not NAME=VALUE")
        parameters[name.strip()] = text
    return parameters


@router.post(
    "/jobs/file",
    status_code=201,
    summary="Submit a job file (OpenJD .yaml/.json, OpenCue .xml, Deadline .job)",
    openapi_extra=_FILE_BODY,
)
async def submit_job_file(
    request: Request,
    who: Who,
    manager: Farm,
    filename: Annotated[str, Query(pattern=FILENAME_PATTERN, description="Tells the format.")],
    client_id: Annotated[str | None, Query(max_length=256)] = None,
    param: Annotated[list[str] | None, Query(description="OpenJD parameter NAME=VALUE")] = None,
    deadline: datetime | None = None,
    priority: JobPriority | None = None,
    job_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    hours: Annotated[float | None, Query(gt=0, le=MAX_HOURS)] = None,
    dry_run: bool = False,
    directory: Annotated[
        str | None,
        Query(
            max_length=4096,
            description="The absolute directory the file came from (on storage the farm "
            "shares): an OpenJD template's relative paths point there.",
        ),
    ] = None,
) -> SubmittedFile:
    if directory is not None and ("\x00" in directory or not FilePath(directory).is_absolute()):
        raise invalid("directory", f"{directory[:100]!r} is not an absolute path")
    suffix = FilePath(filename).suffix.lower()
    if suffix not in JOB_FILE_SUFFIXES:
        raise invalid(
            "filename",
            f"unknown job file type {suffix or '(none)'!r}: expected one of "
            + ", ".join(JOB_FILE_SUFFIXES),
        )
    parameters = parse_parameters(param or [])
    content = await read_job_file(request)
    options = {
        "client_id": client_id,
        "deadline": deadline,
        "priority": priority,
        "job_id": job_id,
        "hours": hours,
        "directory": FilePath(directory) if directory is not None else None,
    }
    return await run_in_threadpool(
        _submit, manager, who, filename, content, parameters, options, dry_run
    )


def _submit(
    manager: RenderFarmManager,
    who: Principal,
    filename: str,
    content: bytes,
    parameters: dict[str, str],
    options: dict[str, Any],
    dry_run: bool,
) -> SubmittedFile:
    client = owning_client(manager, who, options["client_id"])
    job = _load(manager, filename, content, parameters, options, client)
    if not _ID.match(job.id):
        raise invalid("job_id", f"job id {job.id!r} is not usable in the API: give job_id")
    check_dependencies(manager, who, list(job.dependencies))
    if dry_run:
        if job.id in manager.jobs:
            raise DuplicateIdError("job", job.id)
        return SubmittedFile(submitted=False, job=job.model_dump(mode="json"))
    manager.submit_job(job)
    return SubmittedFile(submitted=True, job=job_status(manager, job.id))


def _load(
    manager: RenderFarmManager,
    filename: str,
    content: bytes,
    parameters: dict[str, str],
    options: dict[str, Any],
    client: str,
) -> RenderJob:
    name = FilePath(filename).name
    with tempfile.TemporaryDirectory(prefix="render-farm-upload-") as directory:
        path = FilePath(directory) / name
        path.write_bytes(content)
        try:
            description = load_job_file(path, parameters or None, directory=options["directory"])
        except JobFileError as error:  # name the upload, not the temporary file
            raise JobFileError(name, error.problem, error.location) from None
    return description.to_job(
        now=manager.clock.now(),
        job_id=options["job_id"],
        client_id=client,
        deadline=options["deadline"],
        priority=options["priority"],
        estimated_duration_hours=options["hours"],
    )
