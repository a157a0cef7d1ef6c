"""Request and response bodies of the HTTP API, with the bounds the edge enforces.

Request models forbid unknown fields, so a misspelt field is a 422 naming it rather than a
silently ignored value. Ids given through the API are restricted to characters that are safe in
a URL path.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from render_farm_manager.core.models import (
    MAX_FRAMES,
    MAX_HOURS,
    EnergyMode,
    JobPriority,
    JobStep,
    NodeCapabilities,
    NodeStatus,
    NodeType,
    ServiceTier,
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,255}$"
"""Ids created through the API: no slash, no space (tasks' ids, ``shot/main/1``, are the
manager's)."""
MAX_PAGE = 1000
MAX_LIST_ITEMS = 1000

ApiId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
ShortText = Annotated[str, StringConstraints(max_length=1000)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobSubmission(Request):
    """A job as a RenderJob's fields (status and bookkeeping fields are the manager's). A
    client's token submits for its own client: ``client_id`` may be left out."""

    id: ApiId
    name: ShortText
    client_id: ApiId | None = None
    job_type: Annotated[str, StringConstraints(max_length=256)] = "generic"
    priority: JobPriority = JobPriority.MEDIUM
    deadline: datetime
    estimated_duration_hours: float = Field(gt=0, le=MAX_HOURS)
    requires_gpu: bool = False
    memory_requirements_gb: float = Field(default=4.0, gt=0, le=100_000_000)
    cpu_requirements: int = Field(default=1, gt=0, le=1_000_000)
    scene_complexity: int = Field(default=5, ge=1, le=10)
    dependencies: list[ApiId] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    output_path: Annotated[str, StringConstraints(max_length=4096)] = ""
    can_be_preempted: bool = True
    supports_progressive_output: bool = False
    supports_checkpoint: bool = False
    energy_intensive: bool = False
    frames: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    chunk_size: int | None = Field(default=None, ge=1, le=MAX_FRAMES)
    target_task_seconds: float | None = Field(default=None, gt=0, le=MAX_HOURS * 3600)
    steps: list[JobStep] = Field(default_factory=list, max_length=100)
    preview_first: bool = True
    preview_every: int | None = Field(default=None, ge=2, le=MAX_FRAMES)
    limits: dict[str, int] = Field(default_factory=dict, max_length=100)
    machine_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    gpu_count: int = Field(default=0, ge=0, le=10_000)
    gpu_memory_gb: float = Field(default=0.0, ge=0, le=1_000_000)
    os: Annotated[str, StringConstraints(max_length=64)] | None = None
    required_attributes: dict[str, list[str]] = Field(default_factory=dict, max_length=100)
    command: list[Annotated[str, StringConstraints(max_length=10_000)]] = Field(
        default_factory=list, max_length=1000
    )
    preview_scale: float | None = Field(default=None, gt=0, lt=1)


class PriorityChange(Request):
    priority: JobPriority


class DeadlineChange(Request):
    deadline: datetime


class NodeRegistration(Request):
    id: ApiId
    name: ShortText
    status: NodeStatus = NodeStatus.ONLINE
    capabilities: NodeCapabilities
    power_efficiency_rating: float = Field(default=50.0, ge=0, le=100)
    node_type: NodeType | None = None
    idle_power_watts: float | None = Field(default=None, ge=0, le=10_000_000)
    busy_power_watts: float | None = Field(default=None, ge=0, le=10_000_000)


class MaintenanceChange(Request):
    drain: bool = Field(
        default=True,
        description="Finish the current job first (true), or requeue it at once (false).",
    )


class ClientRegistration(Request):
    id: ApiId
    name: ShortText
    sla_tier: ServiceTier = ServiceTier.STANDARD
    guaranteed_resources: float = Field(default=0.0, ge=0, le=100)
    max_resources: float = Field(default=100.0, ge=0, le=100)


class ClientUpdate(Request):
    """Fields to change (those left out stay as they are); applied together or not at all."""

    name: ShortText | None = None
    sla_tier: ServiceTier | None = None
    guaranteed_resources: float | None = Field(default=None, ge=0, le=100)
    max_resources: float | None = Field(default=None, ge=0, le=100)


class EnergyModeChange(Request):
    mode: EnergyMode


class TariffPeriodIn(Request):
    start: time = Field(description="From this time of day (inclusive), e.g. 07:00")
    end: time = Field(description="To this time of day (exclusive); may wrap past midnight")
    price_per_kwh: float = Field(ge=0, le=1_000)


class TariffChange(Request):
    """A daily price schedule: minutes no period covers cost ``default_price`` (by default the
    cheapest period's price)."""

    periods: list[TariffPeriodIn] = Field(max_length=96)
    default_price: float | None = Field(default=None, ge=0, le=1_000)


# -- responses ---------------------------------------------------------------------------


class ErrorBody(BaseModel):
    error: str = Field(description="not_found, invalid_input, conflict, unauthorized ...")
    message: str
    field: str | None = Field(default=None, description="The input at fault, when one is.")
    errors: list[dict[str, Any]] = Field(default_factory=list)


class Health(BaseModel):
    status: str = Field(description="starting, standby, ready, failed or stopped")
    detail: str
    storage: str
    scheduling_cycles: int = 0
    state_version: int | None = None


class WhoAmI(BaseModel):
    role: str
    client_id: str | None
    token_id: str


class JobSummary(BaseModel):
    id: str
    name: str
    client_id: str
    status: str
    priority: str
    progress: float
    deadline: datetime
    submission_time: datetime | None
    assigned_node: str | None
    is_shot: bool


class JobPage(BaseModel):
    jobs: list[JobSummary]
    total: int
    limit: int
    offset: int


class JobDetail(BaseModel):
    job: dict[str, Any] = Field(description="The manager's status of the job.")
    tasks: list[dict[str, Any]] = Field(description="A page of the shot's tasks.")
    tasks_total: int


class SubmittedFile(BaseModel):
    submitted: bool = Field(description="False for a dry run (checked, not submitted).")
    job: dict[str, Any]


class TokenIssued(BaseModel):
    token: str = Field(description="Shown this once; only its hash is kept.")
    token_id: str
    client_id: str


class TokenInfo(BaseModel):
    id: str
    role: str
    client_id: str | None
    created_at: str


class AuditPage(BaseModel):
    entries: list[dict[str, Any]]
    limit: int
    offset: int
