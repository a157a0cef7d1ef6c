"""The farm's data models (pydantic v2): mutable, validated on construction and on assignment.

Names and fields follow the seed API contract; fields added beyond it carry defaults, so every
seed example keeps working.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from render_farm_manager.core.clock import to_naive_local


class RenderJobStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Numeric rank (low 0 … critical 3): compare priorities through this, never as text."""
        return PRIORITY_RANK[self]

    @classmethod
    def from_rank(cls, rank: int) -> JobPriority:
        return _PRIORITY_BY_RANK[max(0, min(3, rank))]


PRIORITY_RANK: dict[JobPriority, int] = {
    JobPriority.LOW: 0,
    JobPriority.MEDIUM: 1,
    JobPriority.HIGH: 2,
    JobPriority.CRITICAL: 3,
}
_PRIORITY_BY_RANK = {rank: priority for priority, rank in PRIORITY_RANK.items()}
MAX_PRIORITY_RANK = 3


class NodeStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"
    ERROR = "error"
    STARTING = "starting"
    STOPPING = "stopping"


class EnergyMode(StrEnum):
    PERFORMANCE = "performance"
    BALANCED = "balanced"
    EFFICIENCY = "efficiency"
    NIGHT_SAVINGS = "night_savings"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class ServiceTier(StrEnum):
    BASIC = "basic"
    STANDARD = "standard"
    PREMIUM = "premium"


class NodeType(StrEnum):
    CPU = "cpu"
    GPU = "gpu"
    HYBRID = "hybrid"
    SPECIALIZED = "specialized"


class FarmModel(BaseModel):
    """Base of every model: mutable, validated on assignment, ``.copy()`` without warnings."""

    model_config = ConfigDict(validate_assignment=True, use_enum_values=False, extra="forbid")

    def copy(  # type: ignore[override]
        self, *, update: dict[str, Any] | None = None, deep: bool = False
    ) -> Any:
        """Same as :meth:`model_copy` (kept for the seed API)."""
        return self.model_copy(update=update, deep=deep)


def _naive(value: datetime | None) -> datetime | None:
    return None if value is None else to_naive_local(value)


class NodeCapabilities(FarmModel):
    cpu_cores: int = Field(gt=0)
    memory_gb: int = Field(gt=0)
    gpu_model: str | None = None
    gpu_count: int = Field(default=0, ge=0)
    gpu_memory_gb: float = Field(default=0.0, ge=0)
    gpu_compute_capability: float = Field(default=0.0, ge=0)
    storage_gb: int = Field(default=1000, gt=0)
    specialized_for: list[str] = Field(default_factory=list)


class RenderNode(FarmModel):
    id: str = Field(min_length=1)
    name: str
    status: NodeStatus = NodeStatus.ONLINE
    capabilities: NodeCapabilities
    power_efficiency_rating: float = Field(default=50.0, ge=0, le=100)
    current_job_id: str | None = None
    performance_history: dict[str, float] = Field(default_factory=dict)
    last_error: str | None = None
    uptime_hours: float = Field(default=0.0, ge=0)
    # Beyond the seed contract.
    node_type: NodeType | None = None
    draining: bool = False
    """True while the node finishes its current job before going to maintenance."""
    idle_power_watts: float | None = Field(default=None, ge=0)
    busy_power_watts: float | None = Field(default=None, ge=0)


class RenderJob(FarmModel):
    id: str = Field(min_length=1)
    name: str
    client_id: str = Field(min_length=1)
    status: RenderJobStatus = RenderJobStatus.PENDING
    job_type: str = "generic"
    priority: JobPriority = JobPriority.MEDIUM
    submission_time: datetime | None = None
    deadline: datetime
    estimated_duration_hours: float = Field(gt=0)
    progress: float = Field(default=0.0, ge=0, le=100)
    requires_gpu: bool = False
    memory_requirements_gb: float = Field(default=4.0, gt=0)
    cpu_requirements: int = Field(default=1, gt=0)
    scene_complexity: int = Field(default=5, ge=1, le=10)
    dependencies: list[str] = Field(default_factory=list)
    assigned_node_id: str | None = None
    output_path: str = ""
    error_count: int = Field(default=0, ge=0)
    can_be_preempted: bool = True
    supports_progressive_output: bool = False
    supports_checkpoint: bool = False
    last_checkpoint_time: datetime | None = None
    last_progressive_output_time: datetime | None = None
    energy_intensive: bool = False
    # Beyond the seed contract.
    emergency: bool = False
    """Submitted through ``submit_emergency_job``: runs before everything else."""
    started_at: datetime | None = None
    completed_at: datetime | None = None
    deadline_feasible: bool | None = None
    """Set at submission: False when even an empty farm could not finish it in time."""
    blocked_reason: str | None = None
    """Why a pending job cannot start (a failed or cancelled dependency)."""
    failure_reason: str | None = None
    excluded_node_ids: list[str] = Field(default_factory=list)
    """Nodes that failed this job repeatedly; the job is never placed on them again."""

    _naive_times = field_validator(
        "submission_time",
        "deadline",
        "last_checkpoint_time",
        "last_progressive_output_time",
        "started_at",
        "completed_at",
    )(_naive)


class Client(FarmModel):
    id: str = Field(min_length=1)
    name: str
    sla_tier: ServiceTier = ServiceTier.STANDARD
    guaranteed_resources: float = Field(default=0.0, ge=0, le=100)
    max_resources: float = Field(default=100.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ceiling_not_below_guarantee(self) -> Client:
        if self.max_resources < self.guaranteed_resources:
            raise ValueError(
                f"max_resources ({self.max_resources}) must not be below "
                f"guaranteed_resources ({self.guaranteed_resources})"
            )
        return self


class RenderClient(FarmModel):
    """The older client shape; exposes ``id`` and ``sla_tier`` like :class:`Client`."""

    client_id: str = Field(min_length=1)
    name: str
    service_tier: ServiceTier = ServiceTier.STANDARD
    guaranteed_resources: float = Field(default=0.0, ge=0, le=100)
    max_resources: float = Field(default=100.0, ge=0, le=100)

    @property
    def id(self) -> str:
        return self.client_id

    @property
    def sla_tier(self) -> ServiceTier:
        return self.service_tier

    @sla_tier.setter
    def sla_tier(self, value: ServiceTier | str) -> None:
        self.service_tier = ServiceTier(value)


AnyClient = Client | RenderClient


class ResourceAllocation(FarmModel):
    client_id: str
    allocated_percentage: float = Field(default=0.0, ge=0)
    allocated_nodes: list[str] = Field(default_factory=list)
    borrowed_percentage: float = Field(default=0.0, ge=0)
    borrowed_from: dict[str, float] = Field(default_factory=dict)
    lent_percentage: float = Field(default=0.0, ge=0)
    lent_to: dict[str, float] = Field(default_factory=dict)


class PerformanceMetrics(FarmModel):
    total_jobs_completed: int = 0
    jobs_completed_on_time: int = 0
    preemptions_count: int = 0
    node_failures_count: int = 0
    average_utilization_percentage: float = 0.0
    average_node_idle_percentage: float = 0.0
    energy_usage_kwh: float = 0.0
    average_job_turnaround_hours: float = 0.0
    optimization_improvement_percentage: float = 0.0


class AuditLogEntry(FarmModel):
    timestamp: datetime
    event_type: str
    job_id: str | None = None
    node_id: str | None = None
    client_id: str | None = None
    description: str
    details: dict[str, Any] = Field(default_factory=dict)
    log_level: LogLevel = LogLevel.INFO


class ProgressiveOutputConfig(FarmModel):
    enabled: bool = True
    interval_minutes: float = Field(default=30, gt=0)
    quality_levels: list[int] = Field(default_factory=lambda: [25, 50, 75])
    max_overhead_percentage: float = Field(default=5.0, ge=0, le=100)

    @field_validator("quality_levels")
    @classmethod
    def _levels_in_range(cls, levels: list[int]) -> list[int]:
        if not levels:
            raise ValueError("quality_levels needs at least one level")
        for level in levels:
            if not 1 <= level <= 100:
                raise ValueError(f"quality level {level} is outside 1-100")
        return sorted(levels)


FINISHED_STATUSES = frozenset(
    {RenderJobStatus.COMPLETED, RenderJobStatus.FAILED, RenderJobStatus.CANCELLED}
)
WAITING_STATUSES = frozenset({RenderJobStatus.PENDING, RenderJobStatus.QUEUED})
