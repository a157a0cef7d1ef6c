"""What a job file describes, in the farm's terms, before the business fields a file format
lacks (client, deadline, priority) are added at submission.

Every importer (Open Job Description, OpenCue, Deadline) produces a :class:`JobDescription`;
:meth:`JobDescription.to_job` turns it into the shot the manager runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.models import JobPriority, JobStep, RenderJob

JobFormat = Literal["openjd", "opencue", "deadline"]
DEFAULT_DEADLINE_HOURS = 24.0
DEFAULT_HOURS_PER_TASK_FRAME = 0.1


class JobDescription(BaseModel):
    """A job as a file describes it. ``None`` means the file did not say."""

    model_config = ConfigDict(extra="forbid")

    source: str
    """The file (or bundle directory) it was read from."""
    format: JobFormat
    name: str
    steps: list[JobStep] = Field(min_length=1)
    job_id: str | None = None
    client_id: str | None = None
    priority: JobPriority | None = None
    deadline: datetime | None = None
    estimated_duration_hours: float | None = None
    dependencies: list[str] = Field(default_factory=list)
    """Ids of other jobs this one waits for."""
    machine_limit: int | None = None
    limits: dict[str, int] = Field(default_factory=dict)
    job_type: str | None = None
    requires_gpu: bool | None = None
    cpu_requirements: int | None = None
    memory_requirements_gb: float | None = None
    gpu_count: int | None = None
    gpu_memory_gb: float | None = None
    os: str | None = None
    required_attributes: dict[str, list[str]] = Field(default_factory=dict)
    excluded_node_ids: list[str] = Field(default_factory=list)
    output_path: str | None = None
    supports_checkpoint: bool | None = None
    can_be_preempted: bool | None = None
    energy_intensive: bool | None = None
    preview_first: bool | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Parameter values the job was resolved with (for the record)."""
    openjd_session: dict[str, Any] | None = None
    """What its tasks need to run as Open Job Description sessions (see ``RenderJob``)."""

    def to_job(
        self,
        *,
        now: datetime,
        job_id: str | None = None,
        client_id: str | None = None,
        deadline: datetime | None = None,
        priority: JobPriority | str | None = None,
        estimated_duration_hours: float | None = None,
    ) -> RenderJob:
        """The shot to submit. Options given here win over the file; a client must come from
        one of them; without a deadline the job is due :data:`DEFAULT_DEADLINE_HOURS` from
        ``now``; without an estimate, each frame is guessed at 0.1 h."""
        client = client_id or self.client_id
        if not client:
            raise InvalidInputError(
                f"{self.source}: no client: pass one at submission (--client)", field="client_id"
            )
        due = deadline or self.deadline or now + timedelta(hours=DEFAULT_DEADLINE_HOURS)
        values: dict[str, Any] = {
            "id": job_id or self.job_id or _default_id(self.name, now),
            "name": self.name,
            "client_id": client,
            "deadline": due,
            "estimated_duration_hours": estimated_duration_hours
            or self.estimated_duration_hours
            or self._guess_hours(),
            "dependencies": list(self.dependencies),
            "limits": dict(self.limits),
            "machine_limit": self.machine_limit,
            "required_attributes": {k: list(v) for k, v in self.required_attributes.items()},
            "excluded_node_ids": list(self.excluded_node_ids),
            "os": self.os,
            "openjd_session": self.openjd_session,
        }
        if len(self.steps) == 1 and self.steps[0].name == "main":
            step = self.steps[0]
            values.update(
                frames=step.frames,
                chunk_size=step.chunk_size,
                target_task_seconds=step.target_task_seconds,
                command=list(step.command),
            )
        else:
            values["steps"] = [step.model_copy(deep=True) for step in self.steps]
        chosen = priority or self.priority
        optional = {
            "priority": JobPriority(chosen) if chosen is not None else None,
            "job_type": self.job_type,
            "requires_gpu": self.requires_gpu,
            "cpu_requirements": self.cpu_requirements,
            "memory_requirements_gb": self.memory_requirements_gb,
            "gpu_count": self.gpu_count,
            "gpu_memory_gb": self.gpu_memory_gb,
            "output_path": self.output_path,
            "supports_checkpoint": self.supports_checkpoint,
            "can_be_preempted": self.can_be_preempted,
            "energy_intensive": self.energy_intensive,
            "preview_first": self.preview_first,
        }
        values.update({k: v for k, v in optional.items() if v is not None})
        try:
            return RenderJob(**values)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise InvalidInputError(
                f"{self.source}: {field}: {first['msg']}", field=field
            ) from error

    def _guess_hours(self) -> float:
        from render_farm_manager.jobs.frame_range import parse_frames

        total = 0
        for step in self.steps:
            total += max(1, len(parse_frames(step.frames)) if step.frames else 1)
        return total * DEFAULT_HOURS_PER_TASK_FRAME


def _default_id(name: str, now: datetime) -> str:
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-") or "job"
    return f"{slug[:200]}-{now:%Y%m%d-%H%M%S}"
