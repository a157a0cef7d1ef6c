"""Job events for production tracking, read off the manager's audit entries.

A production-tracking tool wants six things about a job: it was *submitted*, it *started*, a
*preview* is ready, it is *at risk* of missing its deadline, it *completed*, it *failed*. The
manager does not emit these; it writes audit entries, and every committed change hands the
entries it wrote to its change listeners. :func:`job_events` turns those entries into job
events (pure: entries and what was already reported in, events out);
:class:`JobEventTranslator` keeps the little it must remember between changes.

A shot is reported as one job: its tasks are never reported on their own. The first task of a
shot to start is the shot's *started*; later task starts (and the shot going back to queued
between tasks and running again) report nothing. Completion and failure come from the shot's own
status, which follows its tasks.

*At risk* is not in the audit log: it is what ``get_job_status`` forecasts.
:class:`DeadlineWatch` looks periodically and reports each job once when it stops meeting its
deadline, and again only after it has recovered and slipped anew.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    AuditLogEntry,
    RenderJob,
    RenderJobStatus,
    RenderTask,
)

if TYPE_CHECKING:
    from render_farm_manager.core.manager import RenderFarmManager

S = RenderJobStatus


class JobEventKind(StrEnum):
    SUBMITTED = "submitted"
    STARTED = "started"
    PREVIEW_READY = "preview_ready"
    AT_RISK = "at_risk"
    COMPLETED = "completed"
    FAILED = "failed"


class JobEvent(BaseModel):
    """Something a production-tracking tool wants to know about a job (a shot counts once)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid4().hex)
    """Unique per event and kept across delivery attempts: receivers deduplicate on it."""
    kind: JobEventKind
    job_id: str
    client_id: str | None = None
    job_name: str | None = None
    """The job's (shot's) name, which trackers usually match on."""
    at: datetime
    """Farm time of the change (or of the deadline check) that produced the event."""
    details: dict[str, Any] = Field(default_factory=dict)
    """By kind: ``frames``, ``priority``, ``deadline`` (submitted); ``node_id``, ``task_id``
    (started); ``path``, ``frame`` (preview_ready); ``reason`` (failed); ``on_time``
    (completed); ``deadline``, ``estimated_completion``, ``progress`` (at_risk)."""

    def payload(self) -> dict[str, Any]:
        """The event as JSON-ready data."""
        return self.model_dump(mode="json")


STATUS_EVENTS = {
    S.RUNNING: JobEventKind.STARTED,
    S.COMPLETED: JobEventKind.COMPLETED,
    S.FAILED: JobEventKind.FAILED,
}
"""Status moves that are job events (the move of the job itself; a task's start is its shot's)."""
PREVIEW_ENTRIES = frozenset({"preview_ready", "progressive_output_generated"})


def job_events(
    entries: Iterable[AuditLogEntry],
    jobs: Mapping[str, RenderJob],
    started: Set[str],
) -> tuple[list[JobEvent], frozenset[str]]:
    """The job events the audit ``entries`` of one change stand for, and the jobs reported as
    started afterwards.

    ``jobs`` are the manager's jobs by id (names, and which shot a task belongs to);
    ``started`` are the jobs whose start was already reported and that have not finished
    since. A job that finishes leaves that set, so a job retried after a failure is reported
    started again.
    """
    events: list[JobEvent] = []
    running = set(started)
    for entry in entries:
        if entry.event_type == "job_submitted" and entry.job_id is not None:
            events.append(_submitted(entry, jobs.get(entry.job_id)))
        elif entry.event_type in PREVIEW_ENTRIES and entry.job_id is not None:
            events.append(_preview(entry, jobs.get(entry.job_id)))
        elif entry.event_type == "job_status_changed":
            events.extend(_status_events(entry, jobs, running))
    return events, frozenset(running)


def _status_events(
    entry: AuditLogEntry, jobs: Mapping[str, RenderJob], running: set[str]
) -> Iterable[JobEvent]:
    try:
        new_status = S(str(entry.details.get("new_status")))
    except ValueError:
        return
    kind = STATUS_EVENTS.get(new_status)
    if kind is None and new_status != S.CANCELLED:
        return  # queued, pending, paused: nothing a tracker is told (a batch may be large)
    job_ids: list[str] = entry.details.get("job_ids") or ([entry.job_id] if entry.job_id else [])
    for job_id in job_ids:
        job = jobs.get(job_id)
        if isinstance(job, RenderTask):
            if kind == JobEventKind.STARTED:  # the shot's first task start is the shot's
                shot = jobs.get(job.job_id)
                if job.job_id not in running:
                    running.add(job.job_id)
                    yield _event(
                        kind, entry, shot, job.job_id, node_id=entry.node_id, task_id=job_id
                    )
            continue  # a task's end is not the shot's: the shot's own move says that
        if kind == JobEventKind.STARTED:
            if job_id not in running:
                running.add(job_id)
                yield _event(kind, entry, job, job_id, node_id=entry.node_id)
            continue
        running.discard(job_id)  # finished: a retry starts it again
        if kind == JobEventKind.COMPLETED:
            on_time = None
            if job is not None and job.completed_at is not None:
                on_time = job.completed_at <= job.deadline
            yield _event(kind, entry, job, job_id, on_time=on_time)
        elif kind == JobEventKind.FAILED:
            reason = entry.details.get("reason") or (job.failure_reason if job else None)
            yield _event(kind, entry, job, job_id, reason=reason)


def _event(
    kind: JobEventKind,
    entry: AuditLogEntry,
    job: RenderJob | None,
    job_id: str,
    **details: Any,
) -> JobEvent:
    return JobEvent(
        kind=kind,
        job_id=job_id,
        client_id=job.client_id if job is not None else entry.client_id,
        job_name=job.name if job is not None else None,
        at=entry.timestamp,
        details={k: v for k, v in details.items() if v is not None},
    )


def _submitted(entry: AuditLogEntry, job: RenderJob | None) -> JobEvent:
    return _event(
        JobEventKind.SUBMITTED,
        entry,
        job,
        entry.job_id or "",
        priority=entry.details.get("priority"),
        frames=job.frames if job is not None else None,
        deadline=job.deadline.isoformat() if job is not None else None,
    )


def _preview(entry: AuditLogEntry, job: RenderJob | None) -> JobEvent:
    details = entry.details
    return _event(
        JobEventKind.PREVIEW_READY,
        entry,
        job,
        entry.job_id or "",
        path=details.get("path"),
        frame=details.get("frame"),
        quality=details.get("quality"),
    )


class JobEventTranslator:
    """:func:`job_events` with its memory: feed it the entries of each change, in order."""

    def __init__(self, jobs: Mapping[str, RenderJob]) -> None:
        self.jobs = jobs
        self.started: frozenset[str] = frozenset()

    def translate(self, entries: Iterable[AuditLogEntry]) -> list[JobEvent]:
        events, self.started = job_events(entries, self.jobs, self.started)
        return events


WATCHED_STATUSES = frozenset({S.PENDING, S.QUEUED, S.RUNNING})
"""A paused job is held on purpose: it is not reported at risk (nor recovered) while paused."""


class DeadlineWatch:
    """Reports jobs (shots, not their tasks) whose status says they will miss their deadline:
    once per job, and again only after it recovered and slipped anew."""

    def __init__(self) -> None:
        self.at_risk: set[str] = set()

    def check(self, manager: RenderFarmManager) -> list[JobEvent]:
        at = manager.clock.now()
        # One snapshot of the jobs (a C-level copy, safe while the manager changes), then each
        # job's status under the manager's lock.
        jobs = list(manager.jobs.values())
        present = {job.id for job in jobs}
        events: list[JobEvent] = []
        for job in jobs:
            if isinstance(job, RenderTask):
                continue
            if job.status in FINISHED_STATUSES:
                self.at_risk.discard(job.id)
                continue
            if job.status not in WATCHED_STATUSES:
                continue
            status = manager.get_job_status(job.id)
            if status is None:
                continue
            if status["will_meet_deadline"]:
                self.at_risk.discard(job.id)
            elif job.id not in self.at_risk:
                self.at_risk.add(job.id)
                events.append(_at_risk(job, status, at))
        self.at_risk &= present
        return events


def _at_risk(job: RenderJob, status: Mapping[str, Any], at: datetime) -> JobEvent:
    finish = status.get("estimated_completion")
    details = {
        "deadline": job.deadline.isoformat(),
        "estimated_completion": finish.isoformat() if isinstance(finish, datetime) else None,
        "progress": job.progress,
        "reason": status.get("blocked_reason") or job.placement_warning,
    }
    return JobEvent(
        kind=JobEventKind.AT_RISK,
        job_id=job.id,
        client_id=job.client_id,
        job_name=job.name,
        at=at,
        details={k: v for k, v in details.items() if v is not None},
    )
